"""The FastAPI application and the ``shequ`` command-line interface."""
