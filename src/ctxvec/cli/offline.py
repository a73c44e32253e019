"""``ctxvec data make``, ``ctxvec zoo build``, ``ctxvec intervene`` and ``ctxvec demo``: the
offline benchmark and interventions."""

# No `from __future__ import annotations`: typer reads these annotations as objects.
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from ctxvec.cli.options import (
    CHOICE,
    Figures,
    Subsets,
    Workers,
    flag,
    parse_figures,
    parse_integers,
)
from ctxvec.cli.output import say
from ctxvec.errors import ParameterError

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


Difficulty = Annotated[
    float, typer.Option(help="0 (easy) to 1 (hard): noise, overlap of the classes, distractors.")
]


@make_app.command("image")
def make_image(
    out: Annotated[Path, typer.Option(help="New folder: one sub-folder of PNGs per class.")],
    n: Annotated[int, typer.Option(help="Images (a multiple of 4).")] = 2000,
    seed: Seed = 0,
    difficulty: Difficulty = 0.3,
    size: Annotated[int, typer.Option(help="Side of the square images in pixels.")] = 32,
) -> None:
    """Shapes and a texture (circle, square, triangle, stripes) as an image folder."""
    from ctxvec.offline import synth

    path = synth.write_images(out, n, seed, difficulty, size)
    say(f"ctxvec: wrote {n} images to {path}")


@make_app.command("audio")
def make_audio(
    out: Annotated[Path, typer.Option(help="Parquet file to write (id, audio, label).")],
    n: Annotated[int, typer.Option(help="Clips (a multiple of 4).")] = 1000,
    seed: Seed = 0,
    difficulty: Difficulty = 0.3,
) -> None:
    """Tones, chirps, vowel-like formants and noise bursts of about a second, at 16 kHz."""
    from ctxvec.offline import synth

    path = synth.write_audio(out, n, seed, difficulty)
    say(f"ctxvec: wrote {n} clips to {path}")


@zoo_app.command("build")
def zoo_build(
    task: Annotated[str, typer.Argument(help="qa, cls, image or audio.")],
    data: Annotated[str, typer.Option(help="Training data: any file the study reads, or hub id.")],
    out: Annotated[Path, typer.Option(help="Zoo folder (an existing zoo is reused).")],
    seed: Annotated[int, typer.Option(help="Seeds the dev split, init and batch order.")] = 0,
    split: Annotated[str, typer.Option(help="Hub split to train on.")] = "train",
    workers: Workers = None,
) -> None:
    """Train the task's default panel on DATA (text: the families from scratch + MiniLM;
    images: ViT and DeiT; audio: AST and Wav2Vec2), or reuse it."""
    from ctxvec.offline.zoo import build_zoo

    # Bars in a terminal; else a line now and then (CI, logs).
    progress = sys.stderr.isatty()
    checkpoints = build_zoo(
        task, data, out, seed=seed, split=split, workers=workers, log=say, progress=progress
    )
    say(f"ctxvec: {len(checkpoints)} checkpoints; study them with --panel {out}/panel.toml")


def intervene(
    task: Annotated[str, typer.Argument(help="qa or cls.")],
    data: Annotated[str, typer.Option(help="Training data: any file the study reads, or hub id.")],
    study_data: Annotated[str, typer.Option(help="Held-out data the trained panel is studied on.")],
    out: Annotated[Path, typer.Option(help="Output folder: OUT/zoo and OUT/study.")],
    base: Annotated[
        str, typer.Option(help="minilm, or a save_pretrained folder to fine-tune.")
    ] = "minilm",
    statistic: Annotated[
        Literal["variance", "cse", "isoscore"],
        typer.Option(help="Statistic in the loss: variance, cse or isoscore.", metavar=CHOICE),
    ] = "isoscore",
    lambdas: Annotated[
        str, typer.Option(help="Comma-separated weights; positive raises the statistic.")
    ] = "-1,0,1",
    seeds: Annotated[str, typer.Option(help="Comma-separated training seeds.")] = "0,1,2",
    steps: Annotated[int, typer.Option(help="Training steps of each member.")] = 200,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-4,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 16,
    zeta: Annotated[float, typer.Option(help="IsoScore* shrinkage, 0 to 1.")] = 0.2,
    layers: Annotated[
        str,
        typer.Option(help="Regularised layers, e.g. 3,6 (0 = embeddings; default: all others)."),
    ] = "",
    subsets: Subsets = None,
    subset_size: Annotated[
        int | None, typer.Option(help="Examples per subset (default: the task's).")
    ] = None,
    subset_seed: Annotated[int, typer.Option(help="Seed of the study's subsets.")] = 0,
    score: Annotated[
        str,
        typer.Option(
            help="Score the study correlates: f1, or for cls accuracy or macro_f1 (they do not "
            "reward a model that always answers one class)."
        ),
    ] = "f1",
    workers: Workers = None,
    figures: Figures = "png,svg",
) -> None:
    """Fine-tune BASE with lambda x a statistic in the loss over lambdas x seeds; study them."""
    from ctxvec.offline.intervention import run_intervention

    result = run_intervention(
        task,
        base,
        data,
        study_data,
        out,
        statistic=statistic,
        lambdas=_floats("lambdas", lambdas),
        seeds=parse_integers("seeds", seeds) or (),
        steps=steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        zeta=zeta,
        layers=parse_integers("layers", layers),
        subsets=subsets,
        subset_size=subset_size,
        subset_seed=subset_seed,
        score=score,
        workers=workers,
        figures=parse_figures(figures),
        progress=sys.stderr.isatty(),
        log=say,
    )
    say(f"ctxvec: {len(result.checkpoints)} checkpoints in {out}/zoo, study in {out}/study")


def _floats(parameter: str, text: str) -> tuple[float, ...]:
    """Comma-separated numbers (``"-1,0,0.5"``) as a tuple."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ParameterError(parameter, f"'{text}' must be comma-separated numbers") from None


def demo(
    out: Annotated[Path, typer.Option(help="Output folder for data, zoo and studies.")] = Path(
        "ctxvec-demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed of data, training and subsets.")] = 0,
    small: Annotated[bool, flag("--small", "Tiny sizes: a smoke test in seconds.")] = False,
    workers: Workers = None,
    figures: Figures = "png,svg",
    tasks: Annotated[
        str, typer.Option(help="Comma-separated: some of qa, cls, image, audio.")
    ] = "qa,cls",
) -> None:
    """The whole study offline: benchmark, model zoo, QA and classification studies."""
    from ctxvec.offline import demo as d

    formats = parse_figures(figures)
    sizes, members = (d.SMALL, d.SMALL_PANELS) if small else (d.DemoSizes(), None)
    chosen = tuple(t.strip() for t in tasks.split(",") if t.strip())
    # Bars in a terminal; else training says how far it is now and then (CI, logs).
    progress = sys.stderr.isatty()
    d.run_demo(
        out,
        seed,
        sizes,
        members,
        workers=workers,
        progress=progress,
        log=say,
        figures=formats,
        tasks=chosen,
    )
