"""Pure spatial analysis on GeoDataFrames: no database, no HTTP."""
