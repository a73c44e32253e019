"""The `ctxvec` command line (:mod:`ctxvec.cli.app`)."""

from ctxvec.cli.app import main

__all__ = ["main"]
