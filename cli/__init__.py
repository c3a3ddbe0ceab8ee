"""The ``shequ`` command line: a thin door over the use cases (``shequ.usecases``).

Each command parses its arguments, makes a workspace, calls one use case and prints what happened in
plain words. Errors a user can cause exit with status 2 and say what was wrong (every problem of a
file); ``shequ check grids`` exits 1 when it finds something.
"""

from shequ.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
