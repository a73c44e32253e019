"""The command line's surface: help at 80 columns, plain flags, version, shell completion, and
a start that imports neither torch nor transformers.

Help, the completion script and start-up are checked through the installed ``ctxvec`` script in
a process of its own, as a user runs it: typer reads the terminal's width and colours when it is
imported, the completion script asks which shell started it, and this process has torch loaded
already. The rest runs in this process (``run_cli``).
"""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer.main

from ctxvec.cli.app import app

ROOT = typer.main.get_command(app)
# Rich markup tags as rich reads them: a help text holding one loses it in the rendered help.
MARKUP_TAG = re.compile(r"\[([a-z#/@][^\[]*?)\]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The one boolean named for turning something off: the attention viewer is written by default.
OFF_SWITCHES = {"--no-html"}


def commands(command=ROOT, path: tuple[str, ...] = ()):
    """(path, click command) for the root and every command and sub-command under it."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, (*path, name))


COMMANDS = dict(commands())
IDS = [" ".join(p) or "ctxvec" for p in COMMANDS]


@pytest.fixture(scope="module")
def help_of(processes):
    """``help_of(*path, columns=80)``: ``ctxvec PATH --help`` as a terminal that wide shows it."""

    def show(*path: str, columns: int = 80) -> str:
        done = processes.run(
            processes.ctxvec, *path, "--help", env=processes.env(COLUMNS=str(columns)), timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    return show


# Runs the entry point, then reports on stderr which heavy modules it imported.
PROBE = """
import sys
sys.argv = ["ctxvec", *sys.argv[1:]]
from ctxvec.cli import main
try:
    main()
finally:
    heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
    print("IMPORTED:" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_help_shows_every_option_whole_at_80_columns(path, help_of) -> None:
    out = ANSI.sub("", help_of(*path, columns=80))
    assert "…" not in out, out
    assert max(len(line) for line in out.splitlines()) <= 80
    for param in COMMANDS[path].params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("--"):
                assert re.search(rf"{re.escape(name)}(?![\w-])", out), (name, out)
    assert out.count("Usage:") == 1


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_booleans_are_plain_flags(path) -> None:
    for param in COMMANDS[path].params:
        assert not param.secondary_opts, param.opts  # no --x/--no-x pairs
        if getattr(param, "is_flag", False):
            assert param.default in (False, None), param.opts  # off unless given
        for name in param.opts:
            assert not name.startswith("--no-") or name in OFF_SWITCHES, name


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_help_texts_hold_no_markup_that_rich_would_drop(path) -> None:
    for param in COMMANDS[path].params:
        assert not MARKUP_TAG.search(getattr(param, "help", None) or ""), param.opts


def test_defaults_written_in_help_texts_are_shown(help_of) -> None:
    out = " ".join(help_of("study", "qa", columns=200).split())
    assert "Number of subsets K (default: 4)." in out
    assert "Unit cache folder (default: OUT/units)." in out
    assert "Questions per subset (default: 200)." in out


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["panels"],
        ["study", "qa", "--help"],
        ["study", "cls", "--help"],
        ["attention", "--help"],
        ["demo", "--help"],
    ],
    ids=" ".join,
)
def test_start_up_imports_neither_torch_nor_transformers(args, processes) -> None:
    done = processes.run(
        processes.python, "-c", PROBE, *args, env=processes.env(COLUMNS="80"), timeout=60
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("IMPORTED:"))
    assert line == "IMPORTED:"


def test_version_is_the_installed_distribution(run_cli) -> None:
    done = run_cli("--version")
    assert done.code == 0, done.err
    assert done.out == f"ctxvec {version('ctxvec')}\n"


def test_panels_lists_the_built_in_panels(run_cli) -> None:
    done = run_cli("panels")
    assert done.code == 0, done.err
    lines = {line.split()[0]: line for line in done.out.splitlines()}
    assert list(lines) == ["squad2-base", "imdb-base", "minilm", "mpnet"]
    # The lazily resolved panels say which weights they hold, each its own.
    assert "all-MiniLM-L6-v2" in lines["minilm"] and "mpnet" not in lines["minilm"]
    assert "all-mpnet-base-v2" in lines["mpnet"] and "MiniLM" not in lines["mpnet"]


def test_shell_completion_script_for_bash(processes) -> None:
    # The script, for the shell that runs ctxvec (`; true` keeps bash as the parent process).
    script = processes.run(
        "bash", "-c", '"$0" --show-completion; true', processes.ctxvec, timeout=60
    )
    assert script.returncode == 0, script.stderr
    assert "complete -o default -F _ctxvec_completion ctxvec" in script.stdout
    assert "_CTXVEC_COMPLETE=complete_bash" in script.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [("ctxvec stu", "1", ["study"]), ("ctxvec study qa --allow", "3", ["--allow-untrained-head"])],
    ids=["command", "option"],
)
def test_shell_completion_words(run_cli, monkeypatch, words, cword, expected) -> None:
    """What the script asks ctxvec for when the user presses TAB."""
    monkeypatch.setenv("_CTXVEC_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", cword)
    assert run_cli().out.split() == expected


def test_usage_errors_stay_one_line(run_cli) -> None:
    done = run_cli("study", "qa", "--no-such-option")
    assert done.code == 2
    assert done.err.startswith("ctxvec: error: ") and done.err.count("\n") == 1


def test_no_arguments_show_help_once(run_cli) -> None:
    done = run_cli()
    assert done.code == 0 and done.out.count("Usage:") == 1
