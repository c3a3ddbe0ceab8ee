"""What every command module needs: the workspace a command works in."""

from __future__ import annotations

import argparse


def workspace(args: argparse.Namespace):
    """The workspace of ``--db`` (else the settings' database), with the settings of the environment."""
    from shequ.settings import from_environment
    from shequ.usecases.workspace import Workspace

    return Workspace.open(args.db, from_environment())
