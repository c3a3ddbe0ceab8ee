"""Shipped data files (catalogs, import rules); every value cites its source."""
