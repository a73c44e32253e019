"""``ctxvec attention``: one input's attention heads, drawn, with per-head statistics."""

# No `from __future__ import annotations`: typer reads these annotations as objects.
from pathlib import Path
from typing import Annotated, Literal

import typer

from ctxvec.cli.options import Device, Out, Seed, Untrained, flag
from ctxvec.cli.output import say
from ctxvec.errors import CtxvecError


def attention(
    model: Annotated[str, typer.Argument(help="Hub id or local directory.")],
    question: Annotated[str | None, typer.Option(help="QA: the question.")] = None,
    context: Annotated[str | None, typer.Option(help="QA: the context paragraph.")] = None,
    text: Annotated[str | None, typer.Option(help="Classification: the text.")] = None,
    image: Annotated[str | None, typer.Option(help="Image classification: an image file.")] = None,
    audio: Annotated[
        str | None, typer.Option(help="Audio classification: an audio file (first window).")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Dataset for --example and --stats-size (study loaders).")
    ] = None,
    example: Annotated[
        str | None, typer.Option(help="Id of the example in --data to show.")
    ] = None,
    task: Annotated[
        str, typer.Option(help="Task of --example / --data alone: qa, cls, image or audio.")
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
    truncate: Annotated[
        bool, flag("--truncate", "--stats-size: cut long texts at the limit, as a study does.")
    ] = False,
    no_html: Annotated[bool, flag("--no-html", "Skip the interactive viewer.html.")] = False,
    allow_untrained_head: Untrained = False,
    device: Device = "auto",
) -> None:
    """Attention heads of one input: prediction, figures, per-head statistics, HTML viewer."""
    from ctxvec import attention as att
    from ctxvec.attention.plots import write_attention_figures
    from ctxvec.attention.viewer import write_viewer
    from ctxvec.files import write_csv
    from ctxvec.loading import ModelSpec

    task, inputs = att.resolve_inputs(
        question, context, text, data, example, task, image=image, audio=audio
    )
    span = att.parse_token_range(token_range) if token_range else None
    lm = att.load_for_attention(
        ModelSpec(model, name), task, device, "float32", allow_untrained_head
    )
    result = att.attend(lm, max_length=max_length, **inputs)
    say(result.describe())
    indices = att.select_tokens(result, crop, span)
    result.head(layer, head)  # a bad layer or head fails before any slow step or file
    table = result.statistics()
    write_csv(out / "statistics.csv", table)
    if stats_size > 0:
        if data is None:
            raise CtxvecError("--stats-size needs --data")
        subset = att.subset_statistics(
            lm, data, stats_size, seed, max_length=max_length, truncate=truncate
        )
        table = subset.table
        write_csv(out / "statistics_subset.csv", table)
        say(f"statistics over {len(subset.used)} examples ({len(subset.skipped)} too long)")
    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    paths = write_attention_figures(result, out, layer, head, indices, table, fmts)
    if not no_html:
        paths.append(write_viewer(result, out / "viewer.html", table))
    say(f"wrote {len(paths)} files to {out}")
