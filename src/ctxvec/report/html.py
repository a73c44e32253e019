"""The study's HTML: the report page, and the one way every HTML view of a run is made.

:func:`render` fills a Jinja template of ``ctxvec/assets`` (autoescaped, with
:func:`~ctxvec.report.numbers.number` as the filter ``number``); the report page and the
notebook view (:func:`ctxvec.report.summary.summary_html`) are both made by it.

:func:`write_report` turns a run folder (:func:`~ctxvec.report.run.load_run`) into
``report.html``: the answer first (:mod:`~ctxvec.report.verdict`, with its forest plot), the
question, the panel and data, interactive scatter plots of score against each metric (plotly,
its script inlined once so the page works offline from ``file://``), the correlation over
depth, the correlation table with intervals and tests, the per-model table, "Rogue dimensions"
(:mod:`~ctxvec.report.rogue`: the shares, and whether the cosine metrics were standardised), with
attention statistics (``--attention-stats``) the section "Attention against the score"
(:mod:`~ctxvec.report.attention`), with two models or more "Cross-model similarity"
(:mod:`~ctxvec.report.similarity`), for an intervention panel (``ctxvec intervene``)
"Dose-response" (:mod:`~ctxvec.report.dose`), the attention figures and the manifest.

It reads only the run folder, so a report can be rebuilt at any time (``ctxvec report RUN``)
without the models or the data; it computes no statistic of its own. Left out: the attention
viewer's page (:mod:`ctxvec.attention.viewer`).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ctxvec import files
from ctxvec.metrics.registry import label
from ctxvec.report import numbers
from ctxvec.report.attention import section as attention_section
from ctxvec.report.confounds import section as confounds_section
from ctxvec.report.dose import section as dose_section
from ctxvec.report.figures import depth, forest, scatter
from ctxvec.report.interactive import depth_figure, forest_figure, scatter_figure
from ctxvec.report.rogue import section as rogue_section
from ctxvec.report.run import Run, correlation_frame, metric_frame, model_frame, warnings_for
from ctxvec.report.similarity import section as similarity_section
from ctxvec.report.verdict import answer_of

if TYPE_CHECKING:
    import jinja2


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ctxvec", "assets"), autoescape=True
    )
    environment.filters["number"] = numbers.number
    return environment


def render(template: str, **context: Any) -> str:
    """``ctxvec/assets/{template}`` filled with ``context``; text is escaped, ``| safe`` not."""
    return _environment().get_template(template).render(**context)


def _attention_images(run_dir: Path) -> list[tuple[str, str]]:
    folder = run_dir / "attention"
    if not folder.is_dir():
        return []
    return [
        (p.relative_to(folder).as_posix(),
         "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii"))
        for p in sorted(folder.rglob("*.png"))
    ]  # fmt: skip


def report_html(run: Run) -> str:
    """The whole page as one string (plotly's script inlined once)."""
    import plotly.io as pio

    config = run.manifest["config"]
    answer = answer_of(run)
    # plotly's script is inlined once, with the page's first figure: the answer's, or else the
    # first scatter plot.
    answer_figure = (
        pio.to_html(
            forest_figure(forest(answer, run.score)),
            full_html=False,
            include_plotlyjs=True,
            div_id="verdict-plot",
            config={"displaylogo": False, "responsive": True, "displayModeBar": False},
        )
        if answer is not None
        else None
    )
    figures = []
    for i, metric in enumerate(run.metrics):
        figures.append(
            pio.to_html(
                scatter_figure(scatter(run.subsets, run.score, metric)),
                full_html=False,
                include_plotlyjs=answer is None and i == 0,
                div_id=f"scatter-{metric}",
                config={"displaylogo": False, "responsive": True},
            )
        )
    panel = (
        pd.DataFrame(run.manifest["models"])
        .fillna("")
        .reindex(columns=["name", "id", "revision", "fingerprint"])
    )
    attention_score = attention_section(run)
    rogue = rogue_section(run)
    similarity = similarity_section(run)
    dose = dose_section(run)
    layer = config["settings"].get("layer", -1)
    curves = depth(run.correlations.get("layers") or {}, run.score)
    return render(
        "report.html.jinja",
        title=f"Context vectors and {run.task.split(' (')[0]}",
        run_dir=str(run.path),
        written=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        sections=[
            *([("verdict", "Answer")] if answer is not None else []),
            *([("dose", "Dose-response")] if dose else []),
            ("question", "Question"),
            ("panel", "Panel"),
            ("scatter", "Scatter"),
            ("layers", "Depth"),
            ("correlations", "Correlations"),
            *([("confounds", "Confounds")] if "confounds" in run.correlations else []),
            ("models", "Models"),
            *([("rogue", "Rogue dimensions")] if rogue else []),
            *([("attention-score", "Attention vs score")] if attention_score else []),
            *([("similarity", "Similarity")] if similarity else []),
            ("attention", "Attention"),
            ("manifest", "Manifest"),
        ],
        answer=answer,
        answer_figure=answer_figure,
        n_subsets=config["subsets"],
        subset_size=config["subset_size"],
        seed=config["seed"],
        task_name=f"{run.task}, score {label(run.score)}",
        dataset=run.manifest["dataset"],
        device=run.manifest["device"],
        dtype=run.manifest["dtype"],
        panel_table=panel.to_html(index=False, na_rep=""),
        scatter=figures,
        layer_figure=(
            pio.to_html(
                depth_figure(curves), full_html=False, include_plotlyjs=False, div_id="layers-plot"
            )
            if curves is not None
            else None
        ),
        layer_text="the last" if layer == -1 else f"layer {layer}",
        warnings=warnings_for(run),
        correlation_table=correlation_frame(run).to_html(
            index=False, na_rep="", float_format=numbers.cell
        ),
        model_table=model_frame(run).to_html(index=False),
        metric_table=metric_frame(run).to_html(index=False),
        attention_score=attention_score,
        rogue=rogue,
        similarity=similarity,
        confounds=confounds_section(run),
        dose=dose,
        attention=_attention_images(run.path),
        manifest=json.dumps(run.manifest, indent=2),
    )


def write_report(run: Run) -> Path:
    """Write ``report.html`` into the run's folder and return its path."""
    path = run.path / "report.html"
    files.write_text(path, report_html(run))
    return path
