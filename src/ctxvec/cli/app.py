"""The ``ctxvec`` command line: a thin shell over the Python API.

One module per command group (:mod:`~ctxvec.cli.study`, :mod:`~ctxvec.cli.attention`,
:mod:`~ctxvec.cli.offline`); each option maps onto a field of the API's configs, and a command
imports the API only when it runs, so ``--help``, ``--version``, shell completion and
``ctxvec panels`` answer without importing torch or transformers (``tests/cli/test_app.py`` checks
it). User mistakes (:class:`~ctxvec.errors.CtxvecError`) are printed as one line on stderr with
exit code 2.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

# typer carries its own copy of click (pinned typer version); its usage errors are these.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from ctxvec.cli.attention import attention
from ctxvec.cli.offline import data_app, demo, intervene, zoo_app
from ctxvec.cli.options import flag_of
from ctxvec.cli.study import panels, report, study_app
from ctxvec.errors import CtxvecError, ParameterError

app = typer.Typer(
    help="Do better encoders have more discriminative context vectors? Run the study.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion SHELL (bash, zsh, fish, powershell).
    add_completion=True,
)
app.add_typer(study_app, name="study")
app.command("panels")(panels)
app.command("report")(report)
app.command("attention")(attention)
app.add_typer(data_app, name="data")
app.add_typer(zoo_app, name="zoo")
app.command("intervene")(intervene)
app.command("demo")(demo)


def version() -> str:
    """The installed distribution's version (read from its metadata, not from the code)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("ctxvec")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ctxvec {version()}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Do better encoders have more discriminative context vectors? Run the study."""


def main() -> None:
    """Entry point of the ``ctxvec`` command."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as e:
        # Raising it rendered the help: the rich help is printed then, plain help is the message.
        if e.format_message():
            typer.echo(e.format_message())
        sys.exit(0)
    except UsageError as e:
        # A mistyped option is a user mistake like any other: one line, not a framed panel.
        where = e.ctx.command_path if e.ctx else "ctxvec"
        typer.echo(f"ctxvec: error: {e.format_message()} (see '{where} --help')", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("ctxvec: interrupted; finished units are kept and a rerun resumes", err=True)
        sys.exit(130)
    except ParameterError as e:
        typer.echo(f"ctxvec: error: {e.spelled(flag_of)}", err=True)
        sys.exit(2)
    except CtxvecError as e:
        typer.echo(f"ctxvec: error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("ctxvec: interrupted; finished units are kept and a rerun resumes", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
