"""The study's report: one self-contained HTML page.

:func:`load_run` reads a finished run folder (``manifest.json``, ``subsets.csv``,
``models.csv``, ``correlations.json``, and ``attention.csv`` and attention figures under
``attention/`` when present);
:func:`write_report` turns it into ``report.html``: the question, the panel and data,
interactive scatter plots of score against each metric (plotly, its script inlined so the page
works offline from ``file://``), the correlation table with intervals and tests, the per-model
table, with attention statistics (``--attention-stats``) the section "Attention against the
score" (:mod:`~ctxvec.report.attention`), the attention figures and the manifest. The
terminal's summary of the same numbers is :func:`ctxvec.report.summary.summary_markdown`.

It reads only the run folder, so a report can be rebuilt at any time (``ctxvec report RUN``)
without the models or the data; it computes no statistic of its own.
"""

from __future__ import annotations

import base64
import datetime
import json
from importlib import resources
from pathlib import Path

import pandas as pd

from ctxvec import files
from ctxvec.report.attention import section as attention_section
from ctxvec.report.figures import layer_figure, scatter_figure
from ctxvec.report.run import (
    LABELS,
    TASK_NAMES,
    Run,
    correlation_frame,
    model_frame,
    number,
    warnings_for,
)


def _attention_images(run_dir: Path) -> list[tuple[str, str]]:
    folder = run_dir / "attention"
    if not folder.is_dir():
        return []
    return [
        (p.relative_to(folder).as_posix(),
         "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii"))
        for p in sorted(folder.rglob("*.png"))
    ]  # fmt: skip


# ------------------------------------------------------------------------------ output


def report_html(run: Run) -> str:
    """The whole page as one string (plotly's script inlined once)."""
    import jinja2
    import plotly.io as pio

    config = run.manifest["config"]
    figures = []
    for i, metric in enumerate(run.metrics):
        figures.append(
            pio.to_html(
                scatter_figure(run, metric),
                full_html=False,
                include_plotlyjs=i == 0,
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
    layer = config["settings"].get("layer", -1)
    template = jinja2.Environment(autoescape=True).from_string(
        resources.files("ctxvec").joinpath("assets/report.html.jinja").read_text("utf-8")
    )
    return template.render(
        title=f"Context vectors and {TASK_NAMES[config['task']].split(' (')[0]}",
        run_dir=str(run.path),
        written=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        sections=[
            ("question", "Question"),
            ("panel", "Panel"),
            ("scatter", "Scatter"),
            ("layers", "Depth"),
            ("correlations", "Correlations"),
            ("models", "Models"),
            *([("attention-score", "Attention vs score")] if attention_score else []),
            ("attention", "Attention"),
            ("manifest", "Manifest"),
        ],
        n_subsets=config["subsets"],
        subset_size=config["subset_size"],
        seed=config["seed"],
        task_name=f"{TASK_NAMES[config['task']]}, score {LABELS.get(run.score, run.score)}",
        dataset=run.manifest["dataset"],
        device=run.manifest["device"],
        dtype=run.manifest["dtype"],
        panel_table=panel.to_html(index=False, na_rep=""),
        scatter=figures,
        layer_figure=(
            pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id="layers-plot")
            if (figure := layer_figure(run)) is not None
            else None
        ),
        layer_text="the last" if layer == -1 else f"layer {layer}",
        warnings=warnings_for(run),
        correlation_table=correlation_frame(run).to_html(
            index=False, na_rep="", float_format=number
        ),
        model_table=model_frame(run).to_html(index=False),
        attention_score=attention_score,
        attention=_attention_images(run.path),
        manifest=json.dumps(run.manifest, indent=2),
    )


def write_report(run: Run) -> Path:
    """Write ``report.html`` into the run's folder and return its path."""
    path = run.path / "report.html"
    files.write_text(path, report_html(run))
    return path
