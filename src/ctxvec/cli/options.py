"""Options that more than one command takes, declared once (typer reads these annotations).

Conventions of every command: a boolean is one plain flag, named for what it turns on, with no
``--no-`` twin (:func:`flag`). Help texts hold no ``[lower-case ...]``: the rich help reads it as
markup and drops it, so a default that typer cannot show (one that depends on the task or the
machine) is written ``(default: ...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ctxvec.errors import ParameterError

# Parameters whose option is not their name with dashes.
_OPTIONS = {"example_id": "--example", "controls": "--control"}


def flag_of(parameter: str) -> str:
    """The option that sets a library parameter: ``batch_size`` -> ``--batch-size``. The one
    place where the command line's spelling meets the API's names (errors name parameters)."""
    return _OPTIONS.get(parameter, "--" + parameter.replace("_", "-"))


def parse_integers(parameter: str, text: str | None) -> tuple[int, ...] | None:
    """Comma-separated integers (``"0,1000,2000"``) as a tuple; None or empty text is None."""
    if not text:
        return None
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ParameterError(parameter, f"'{text}' must be comma-separated integers") from None


def parse_figures(text: str) -> tuple[str, ...]:
    """``--figures png,svg`` as ``("png", "svg")``; ``none`` as ``()``."""
    if text.strip().lower() == "none":
        return ()
    return tuple(f.strip().lower() for f in text.split(",") if f.strip())


def flag(name: str, text: str) -> typer.models.OptionInfo:
    """A boolean option that is off unless given: ``--name`` only, no ``--no-name`` twin."""
    return typer.Option(name, help=text)


# The type shown for an option whose choices its help lists: the rich help squeezes its columns
# to an equal width, so a long "<a|b|c>" would cut the option names at 80 columns.
CHOICE = "<choice>"

Models = Annotated[
    list[str] | None,
    typer.Option("--model", "-m", help="Hub id or local directory; repeat for a panel."),
]
Panel = Annotated[
    str | None,
    typer.Option(help="Built-in panel (squad2-base, imdb-base, minilm, mpnet) or a TOML file."),
]
Subsets = Annotated[int | None, typer.Option(help="Number of subsets K (default: 4).")]
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
    typer.Option(
        help="hidden (layer outputs) or attention-output (self-attention outputs before the "
        "residual).",
        metavar=CHOICE,
    ),
]
MetricsOption = Annotated[
    Literal["all", "core"],
    typer.Option(
        help="all, or core: Variance, CSE, self- and intra-similarity only (no effective rank, "
        "nothing pooled; faster)."
    ),
]
KernelsOption = Annotated[
    Literal["auto", "off"],
    typer.Option(help="auto: faster CPU kernels where a probe shows they are correct; off."),
]
StackOption = Annotated[
    Literal["encoder", "decoder", "both"],
    typer.Option(
        help="An encoder-decoder's measured stack: encoder, decoder, or both at one layer number.",
        metavar=CHOICE,
    ),
]
SkipFirst = Annotated[
    int,
    typer.Option(
        help="Leave the first N real tokens of a causal stack out (attention sinks).",
        metavar="N",
    ),
]
TokenWeightingOption = Annotated[
    Literal["uniform", "position"],
    typer.Option(
        help="uniform, or position: weight a causal stack's tokens by position (SGPT).",
        metavar=CHOICE,
    ),
]
BatchSize = Annotated[int, typer.Option(help="Inputs per forward pass.")]
ExcludeSpecial = Annotated[
    bool,
    flag("--exclude-special-tokens", "Leave [CLS]/[SEP]-like tokens out of Variance and CSE."),
]
Standardise = Annotated[
    bool,
    flag(
        "--standardise",
        "Compute CSE and the cosine similarities on per-dimension z-scored vectors (rogue "
        "dimensions).",
    ),
]
Compat = Annotated[
    bool,
    flag(
        "--baseline-compat", "Reproduce the baseline: skip over-long inputs (QA: answerable only)."
    ),
]
Untrained = Annotated[
    bool,
    flag("--allow-untrained-head", "Accept a checkpoint whose task head is missing (random head)."),
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
DType = Annotated[
    str, typer.Option(help="auto (bfloat16 on a capable GPU), float32, bfloat16, float16.")
]
Cache = Annotated[Path | None, typer.Option(help="Unit cache folder (default: OUT/units).")]
Quiet = Annotated[bool, flag("--quiet", "No progress bars.")]
Figures = Annotated[
    str,
    typer.Option(
        help="Static figure formats beside the tables: png, svg, pdf, comma-separated, or none."
    ),
]
Strict = Annotated[
    bool, flag("--strict", "Refuse QA answers whose answer_start is off their text.")
]
ExecutorOption = Annotated[
    Literal["local", "ray"],
    typer.Option(help="Where units run: local (this process) or ray.", metavar=CHOICE),
]
Address = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join: auto or HOST:PORT (default: start a local Ray)."),
]
ShardSize = Annotated[
    int | None, typer.Option(help="Split each unit into shards of N examples (default: none).")
]
AttentionStats = Annotated[
    int,
    typer.Option(
        help="Per-head attention statistics of N sampled examples per subset (0: off).",
        metavar="N",
    ),
]
CpusPerUnit = Annotated[float, typer.Option(help="Ray: CPUs of each unit or shard.")]
GpusPerUnit = Annotated[
    float | None, typer.Option(help="Ray: GPUs of each unit (default: 1 where there are GPUs).")
]
MaxRetries = Annotated[int, typer.Option(help="Ray: reruns of a shard whose worker died.")]
Workers = Annotated[
    int | None, typer.Option(help="Parallel trainings (default: one per CPU core).")
]
Out = Annotated[Path, typer.Option(help="Output folder.")]
Controls = Annotated[
    list[str] | None,
    typer.Option(
        "--control",
        help="Model attribute the partial correlations control for (repeatable; none: no "
        "partial correlation).",
        metavar="ATTRIBUTE",
    ),
]
Group = Annotated[
    str | None,
    typer.Option(
        help="Model attribute whose values get a random intercept in the mixed model "
        "(default: family, when the panel has it).",
        metavar="ATTRIBUTE",
    ),
]
