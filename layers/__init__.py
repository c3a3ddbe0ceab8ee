"""Data layers: import, normalisation and coordinate handling for shequ."""
