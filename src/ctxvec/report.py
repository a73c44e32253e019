"""The study's report: one self-contained HTML page, and a Markdown summary for the terminal.

:func:`load_run` reads a finished run folder (``manifest.json``, ``subsets.csv``,
``models.csv``, ``correlations.json``, and attention figures under ``attention/`` when present);
:func:`write_report` turns it into ``report.html``: the question, the panel and data,
interactive scatter plots of score against each metric (plotly, its script inlined so the page
works offline from ``file://``), the correlation table with intervals and tests, the per-model
table, the attention figures and the manifest. :func:`summary_markdown` gives the same numbers
as Markdown tables.

It reads only the run folder, so a report can be rebuilt at any time (``ctxvec report RUN``)
without the models or the data; it computes no statistic of its own.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ctxvec import files, plots
from ctxvec.errors import CtxvecError

if TYPE_CHECKING:  # plotly and jinja2 are imported where used: `import ctxvec` stays quick
    import plotly.graph_objects as go

LABELS = {**plots.LABELS, "exact": "EM", "accuracy": "Accuracy"}
TASK_NAMES = {"qa": "extractive QA (SQuAD 2.0 scoring)", "cls": "sequence classification"}
LEVELS = {"subset_level": "subsets", "model_level": "models"}
LINE_STYLES = (("model_level", "solid", "models"), ("subset_level", "dot", "subsets"))


@dataclass
class Run:
    """A run folder's outputs, as written by :func:`ctxvec.study.run_study`."""

    path: Path
    manifest: dict[str, Any]
    subsets: pd.DataFrame
    models: pd.DataFrame
    correlations: dict[str, Any]

    @property
    def metrics(self) -> list[str]:
        return list(self.correlations["metrics"])

    @property
    def score(self) -> str:
        return self.correlations["score"]


def load_run(run_dir: str | Path) -> Run:
    """Read a run folder; a missing or partial folder is a one-line :class:`CtxvecError`."""
    path = Path(run_dir)
    needed = ["manifest.json", "subsets.csv", "models.csv", "correlations.json"]
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        raise CtxvecError(
            f"'{run_dir}' is not a finished ctxvec run (no {', '.join(missing)}); "
            "give the --out folder of a study"
        )
    return Run(
        path=path,
        manifest=json.loads((path / "manifest.json").read_text(encoding="utf-8")),
        subsets=pd.read_csv(path / "subsets.csv"),
        models=pd.read_csv(path / "models.csv"),
        correlations=json.loads((path / "correlations.json").read_text(encoding="utf-8")),
    )


# ------------------------------------------------------------------------------ tables


def correlation_frame(run: Run) -> pd.DataFrame:
    """One row per (metric, level): r, interval, p-values, rho; tests where they apply."""
    rows = []
    for metric, levels in run.correlations["metrics"].items():
        for key, level in LEVELS.items():
            c = levels[key]
            row = {
                "metric": LABELS.get(metric, metric),
                "level": level,
                "n": c["n"],
                "pearson r": c["pearson_r"],
                "95% CI": _interval(c["pearson_ci_low"], c["pearson_ci_high"]),
                "p": c["pearson_p"],
                "spearman rho": c["spearman_rho"],
                "rho p": c["spearman_p"],
                "permutation p": None,
            }
            if key == "model_level" and "model_permutation" in levels:
                row["permutation p"] = levels["model_permutation"]["p"]
            rows.append(row)
        within = levels.get("within_model")
        if within:
            rows.append(
                {
                    "metric": LABELS.get(metric, metric),
                    "level": "within models",
                    "n": within["n"],
                    "pearson r": within["r"],
                    "95% CI": "",
                    "p": within["p"],
                }
            )
    return pd.DataFrame(rows)


def model_frame(run: Run) -> pd.DataFrame:
    """The per-model table with each value and its bootstrap interval in one cell."""
    out = pd.DataFrame({"model": run.models["model"], "n": run.models["n"]})
    for column in run.models.columns:
        if column in {"model", "n"} or column.endswith(("_ci_low", "_ci_high")):
            continue
        values = run.models[column]
        low = run.models.get(f"{column}_ci_low")
        high = run.models.get(f"{column}_ci_high")
        digits = 2 if column in {"f1", "exact", "accuracy"} else 4
        out[LABELS.get(column, column)] = [
            f"{v:.{digits}f}" + (f" [{lo:.{digits}f}, {hi:.{digits}f}]" if low is not None else "")
            for v, lo, hi in zip(
                values,
                low if low is not None else values,
                high if high is not None else values,
                strict=True,
            )
        ]
    return out


def warnings_for(run: Run) -> list[str]:
    """Plain-language cautions about what the model-level statistics can show."""
    n = run.correlations.get("n_models", len(run.models))
    if n < 3:
        return [
            f"Only {n} model(s): a correlation across models needs at least 3, so only the "
            "subset-level and within-model rows can be read, and they say nothing about "
            "whether better models have more discriminative vectors."
        ]
    short, critical = [], math.nan
    for metric, levels in run.correlations["metrics"].items():
        critical = levels.get("critical_r", {}).get("r", math.nan)
        r = levels["model_level"]["pearson_r"]
        if r is not None and not math.isnan(critical) and abs(r) <= critical:
            short.append(f"{LABELS.get(metric, metric)} (r = {r:.2f})")
    if not short:
        return []
    return [
        f"With {n} models a model-level Pearson r needs |r| > {critical:.2f} for p < 0.05. "
        f"These metrics do not reach it, so this panel cannot show their relationship with the "
        f"score to be different from none: {', '.join(short)}."
    ]


# ----------------------------------------------------------------------------- figures


def scatter_figure(run: Run, metric: str) -> go.Figure:
    """Score against ``metric``, one trace per model, the means as diamonds."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    points = run.subsets
    score = run.score
    hover = (
        "model %{customdata[0]}<br>subset %{customdata[1]}<br>"
        f"{LABELS.get(score, score)} %{{y:.2f}}<br>"
        f"{LABELS.get(metric, metric)} %{{x:.4f}}<extra></extra>"
    )
    fig = go.Figure()
    groups = list(points.groupby("model", sort=False))
    palette = qualitative.Plotly if len(groups) <= 10 else qualitative.Dark24
    for i, (model, rows) in enumerate(groups):
        colour = palette[i % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=rows[metric],
                y=rows[score],
                mode="markers",
                name=model,
                legendgroup=model,
                marker={"color": colour, "size": 9},
                customdata=rows[["model", "subset"]].to_numpy(),
                hovertemplate=hover,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[rows[metric].mean()],
                y=[rows[score].mean()],
                mode="markers",
                name=f"{model} (mean)",
                legendgroup=model,
                showlegend=False,
                marker={
                    "color": colour,
                    "size": 15,
                    "symbol": "diamond",
                    "line": {"color": "black", "width": 1},
                },
                customdata=[[model, "mean"]],
                hovertemplate=hover,
            )
        )
    fig.update_layout(
        title=f"{LABELS.get(score, score)} vs {LABELS.get(metric, metric)}",
        xaxis_title=LABELS.get(metric, metric),
        yaxis_title=LABELS.get(score, score),
        template="plotly_white",
        height=420,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"title": {"text": "model"}},
    )
    return fig


def layer_figure(run: Run) -> go.Figure | None:
    """Pearson r of score vs each metric at each layer, per-model means and all points."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    layers = run.correlations.get("layers") or {}
    if not layers:
        return None
    fig = go.Figure()
    for i, (metric, entries) in enumerate(layers.items()):
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
        x = [e["layer"] for e in entries]
        for level, dash, what in (
            ("model_level", "solid", "models"),
            ("subset_level", "dot", "subsets"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[e[level]["pearson_r"] for e in entries],
                    mode="lines+markers",
                    name=f"{LABELS.get(metric, metric)} ({what})",
                    line={"color": colour, "dash": dash},
                    hovertemplate=f"{LABELS.get(metric, metric)}, {what}<br>layer %{{x}}<br>"
                    "r %{y:.3f}<extra></extra>",
                )
            )
    fig.update_layout(
        title="Correlation with the score over depth (solid: per-model means; dotted: points)",
        xaxis_title="layer (0 = embeddings)",
        yaxis_title="Pearson r",
        yaxis_range=[-1.05, 1.05],
        template="plotly_white",
        height=420,
    )
    return fig


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
            index=False, na_rep="", float_format=_number
        ),
        model_table=model_frame(run).to_html(index=False),
        attention=_attention_images(run.path),
        manifest=json.dumps(run.manifest, indent=2),
    )


def write_report(run: Run) -> Path:
    """Write ``report.html`` into the run's folder and return its path."""
    path = run.path / "report.html"
    files.write_text(path, report_html(run))
    return path


def summary_markdown(run: Run) -> str:
    """The panel's scores and the correlations as Markdown, for the terminal."""
    parts = [
        f"## ctxvec: {TASK_NAMES[run.manifest['config']['task']]}, "
        f"score {LABELS.get(run.score, run.score)}",
        "",
        model_frame(run).to_markdown(index=False),
        "",
        _blank_missing(correlation_frame(run)).to_markdown(index=False, floatfmt=".3g"),
    ]
    parts += [f"\n> {w}" for w in warnings_for(run)]
    return "\n".join(parts) + "\n"


def _blank_missing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "")


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    return f"[{low:.2f}, {high:.2f}]"


def _number(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.3g}"
