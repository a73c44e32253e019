"""``ctxvec data make``, ``ctxvec zoo build`` and ``ctxvec demo``: the offline benchmark."""

# No `from __future__ import annotations`: typer reads these annotations as objects.
from pathlib import Path
from typing import Annotated, Literal

import typer

from ctxvec.cli.options import Workers, flag

data_app = typer.Typer(help="The built-in synthetic benchmark.", no_args_is_help=True)
zoo_app = typer.Typer(help="Train a panel of encoders at several steps.", no_args_is_help=True)
SynthTask = Annotated[Literal["qa", "cls"], typer.Argument(help="qa (SQuAD 2.0 JSON) or cls.")]


@data_app.command("make")
def data_make(
    task: SynthTask,
    out: Annotated[Path, typer.Option(help="File to write: .json for qa, .parquet for cls.")],
    n: Annotated[int, typer.Option(help="Questions (qa) or texts (cls, even).")] = 3000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 0,
    unanswerable: Annotated[float, typer.Option(help="qa: share of unanswerable.")] = 1 / 3,
    label_noise: Annotated[float, typer.Option(help="cls: share of flipped labels.")] = 0.0,
) -> None:
    """Generate a deterministic synthetic QA or review-classification dataset."""
    from ctxvec.offline import synth

    if task == "qa":
        path = synth.write_qa(out, n, seed, unanswerable)
    else:
        path = synth.write_cls(out, n, seed, label_noise)
    typer.echo(f"ctxvec: wrote {n} {task} examples to {path}")


@zoo_app.command("build")
def zoo_build(
    task: Annotated[Literal["qa", "cls"], typer.Argument(help="qa or cls.")],
    data: Annotated[str, typer.Option(help="Training data: any file the study reads, or hub id.")],
    out: Annotated[Path, typer.Option(help="Zoo folder (an existing zoo is reused).")],
    seed: Annotated[int, typer.Option(help="Seeds the dev split, init and batch order.")] = 0,
    split: Annotated[str, typer.Option(help="Hub split to train on.")] = "train",
    workers: Workers = None,
) -> None:
    """Train the default panel (six families from scratch + MiniLM) on DATA, or reuse it."""
    from ctxvec.offline.zoo import build_zoo

    checkpoints = build_zoo(task, data, out, seed=seed, split=split, workers=workers)
    typer.echo(f"ctxvec: {len(checkpoints)} checkpoints; study them with --panel {out}/panel.toml")


def demo(
    out: Annotated[Path, typer.Option(help="Output folder for data, zoo and studies.")] = Path(
        "ctxvec-demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed of data, training and subsets.")] = 0,
    small: Annotated[bool, flag("--small", "Tiny sizes: a smoke test in seconds.")] = False,
    workers: Workers = None,
) -> None:
    """The whole study offline: benchmark, model zoo, QA and classification studies."""
    from ctxvec.offline import demo as d

    if small:
        d.run_demo(out, seed, d.SMALL, d.SMALL_PANEL, workers=workers)
    else:
        d.run_demo(out, seed, workers=workers)
