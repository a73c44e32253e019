"""The command line's surface: help at 80 columns, plain flags, version, shell completion, and
a start that imports neither torch nor transformers.

Help and start-up are checked through the installed ``ctxvec`` script in subprocesses, as a user
runs it, with a controlled environment (width, no forced colours).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer.main

from ctxvec.cli.app import app

CTXVEC = str(Path(sys.executable).parent / "ctxvec")
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


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in {"TERMINAL_WIDTH", "FORCE_COLOR"}}
    return {**base, "NO_COLOR": "1", "TOKENIZERS_PARALLELISM": "false", **extra}


def run(*args: str, columns: int = 80, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CTXVEC, *args],
        env=env(COLUMNS=str(columns), **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


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


def imported_by(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env(COLUMNS="80"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("IMPORTED:"))
    return [m for m in line.removeprefix("IMPORTED:").split(",") if m]


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_help_shows_every_option_whole_at_80_columns(path) -> None:
    done = run(*path, "--help", columns=80)
    assert done.returncode == 0, done.stderr
    out = ANSI.sub("", done.stdout)
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


def test_defaults_written_in_help_texts_are_shown() -> None:
    out = " ".join(run("study", "qa", "--help", columns=200).stdout.split())
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
def test_start_up_imports_neither_torch_nor_transformers(args) -> None:
    assert imported_by(*args) == []


def test_version_is_the_installed_distribution() -> None:
    done = run("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"ctxvec {version('ctxvec')}\n"


def test_panels_lists_the_built_in_panels() -> None:
    done = run("panels")
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert list(lines) == ["squad2-base", "imdb-base", "minilm", "mpnet"]
    # The lazily resolved panels say which weights they hold, each its own.
    assert "all-MiniLM-L6-v2" in lines["minilm"] and "mpnet" not in lines["minilm"]
    assert "all-mpnet-base-v2" in lines["mpnet"] and "MiniLM" not in lines["mpnet"]


def test_shell_completion() -> None:
    # The script, for the shell that runs ctxvec (`; true` keeps bash as the parent process).
    script = subprocess.run(
        ["bash", "-c", '"$0" --show-completion; true', CTXVEC],
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0, script.stderr
    assert "complete -o default -F _ctxvec_completion ctxvec" in script.stdout
    assert "_CTXVEC_COMPLETE=complete_bash" in script.stdout
    # What the script asks ctxvec for when the user presses TAB.
    words = run(_CTXVEC_COMPLETE="complete_bash", COMP_WORDS="ctxvec stu", COMP_CWORD="1")
    assert words.stdout.split() == ["study"]
    words = run(
        _CTXVEC_COMPLETE="complete_bash", COMP_WORDS="ctxvec study qa --allow", COMP_CWORD="3"
    )
    assert words.stdout.split() == ["--allow-untrained-head"]


def test_usage_errors_stay_one_line_and_no_arguments_show_help_once() -> None:
    done = run("study", "qa", "--no-such-option")
    assert done.returncode == 2
    assert done.stderr.startswith("ctxvec: error: ") and done.stderr.count("\n") == 1
    done = run()
    assert done.returncode == 0 and done.stdout.count("Usage:") == 1


def test_no_html_skips_the_viewer(tiny_model, tmp_path, monkeypatch, capsys) -> None:
    from ctxvec.cli.app import main

    model = str(tiny_model("electra", "qa"))
    args = ["attention", model, "--question", "Who?", "--context", "Ada wrote it."]
    args += ["--out", str(tmp_path), "--formats", "png", "--device", "cpu", "--no-html"]
    monkeypatch.setattr(sys, "argv", ["ctxvec", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0, capsys.readouterr().err
    assert not (tmp_path / "viewer.html").exists()
    assert (tmp_path / "statistics.csv").is_file()
