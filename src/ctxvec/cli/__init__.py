from ctxvec.cli.app import main

__all__ = ["main"]
