"""``ctxvec data make``, ``ctxvec zoo build`` and ``ctxvec demo``: the offline benchmark."""

# No `from __future__ import annotations`: typer reads these annotations as objects.
import sys
from pathlib import Path
from typing import Annotated

import typer

from ctxvec.cli.options import Figures, Workers, flag, parse_figures
from ctxvec.cli.output import say

data_app = typer.Typer(help="The built-in synthetic benchmark.", no_args_is_help=True)
make_app = typer.Typer(
    help="Generate a deterministic synthetic dataset of one task.", no_args_is_help=True
)
data_app.add_typer(make_app, name="make")
zoo_app = typer.Typer(help="Train a panel of encoders at several steps.", no_args_is_help=True)
Seed = Annotated[int, typer.Option(help="Same seed, same data.")]


@make_app.command("qa")
def make_qa(
    out: Annotated[Path, typer.Option(help="SQuAD 2.0 JSON file to write.")],
    n: Annotated[int, typer.Option(help="Questions.")] = 3000,
    seed: Seed = 0,
    unanswerable: Annotated[float, typer.Option(help="Share of unanswerable questions.")] = 1 / 3,
) -> None:
    """Extractive QA in SQuAD 2.0 JSON."""
    from ctxvec.offline import synth

    path = synth.write_qa(out, n, seed, unanswerable)
    say(f"ctxvec: wrote {n} qa examples to {path}")


@make_app.command("cls")
def make_cls(
    out: Annotated[Path, typer.Option(help="Parquet file to write (text, label).")],
    n: Annotated[int, typer.Option(help="Texts (even).")] = 3000,
    seed: Seed = 0,
    label_noise: Annotated[float, typer.Option(help="Share of flipped labels.")] = 0.0,
) -> None:
    """Review classification (positive/negative) as parquet."""
    from ctxvec.offline import synth

    path = synth.write_cls(out, n, seed, label_noise)
    say(f"ctxvec: wrote {n} cls examples to {path}")


@zoo_app.command("build")
def zoo_build(
    task: Annotated[str, typer.Argument(help="qa or cls.")],
    data: Annotated[str, typer.Option(help="Training data: any file the study reads, or hub id.")],
    out: Annotated[Path, typer.Option(help="Zoo folder (an existing zoo is reused).")],
    seed: Annotated[int, typer.Option(help="Seeds the dev split, init and batch order.")] = 0,
    split: Annotated[str, typer.Option(help="Hub split to train on.")] = "train",
    workers: Workers = None,
) -> None:
    """Train the default panel (six families from scratch + MiniLM) on DATA, or reuse it."""
    from ctxvec.offline.zoo import build_zoo

    # Bars in a terminal; else a line now and then (CI, logs).
    progress = sys.stderr.isatty()
    checkpoints = build_zoo(
        task, data, out, seed=seed, split=split, workers=workers, log=say, progress=progress
    )
    say(f"ctxvec: {len(checkpoints)} checkpoints; study them with --panel {out}/panel.toml")


def demo(
    out: Annotated[Path, typer.Option(help="Output folder for data, zoo and studies.")] = Path(
        "ctxvec-demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed of data, training and subsets.")] = 0,
    small: Annotated[bool, flag("--small", "Tiny sizes: a smoke test in seconds.")] = False,
    workers: Workers = None,
    figures: Figures = "png,svg",
) -> None:
    """The whole study offline: benchmark, model zoo, QA and classification studies."""
    from ctxvec.offline import demo as d

    formats = parse_figures(figures)
    sizes, members = (d.SMALL, d.SMALL_PANEL) if small else (d.DemoSizes(), None)
    # Bars in a terminal; else training says how far it is now and then (CI, logs).
    progress = sys.stderr.isatty()
    d.run_demo(
        out, seed, sizes, members, workers=workers, progress=progress, log=say, figures=formats
    )
