"""The run's headline numbers: plain text for the terminal, HTML for a notebook.

:func:`summary_markdown` is what every study prints at its end and ``ctxvec report`` prints: per
model the score and the baseline's two metrics (Variance, CSE) with their bootstrap intervals,
then the score's correlation with each of them over per-model means, over all (model, subset)
points and within models, and the plain caution of a small panel. Tables are aligned plain text
(Markdown's "simple tables"), and no line is longer than 80 characters, whatever the panel: long
model names are shortened in the middle. Every other metric, level and statistic stays in the
run's files and its report. :func:`summary_html` shows the same in a notebook, with the full
per-model table and a small scatter plot.
"""

from __future__ import annotations

import base64
import html
import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ctxvec.report.figures import scatter_png, shorten
from ctxvec.report.run import (
    LABELS,
    TASK_NAMES,
    Run,
    correlation_frame,
    model_frame,
    number,
    warnings_for,
)

WIDTH = 80
HEADLINE = ("variance", "cse")
GAP = "  "
MIN_NAME = 12
LEVELS = (("model_level", "models"), ("subset_level", "subsets"), ("within_model", "within"))


# ------------------------------------------------------------------------------ numbers


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fixed(value: float | None, digits: int) -> str:
    return "n/a" if _missing(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if _missing(value):
        return "n/a"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _interval(low: float | None, high: float | None, digits: int) -> str:
    if _missing(low) or _missing(high):
        return ""
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def headline_metrics(run: Run) -> list[str]:
    """The baseline's metrics this run measured (Variance and CSE)."""
    return [m for m in HEADLINE if m in run.correlations["metrics"]]


def model_cells(run: Run) -> pd.DataFrame:
    """Per model: ``(value, interval)`` strings of the score and the headline metrics.

    The score comes from ``models.csv`` with its bootstrap interval; a score that file lacks
    (best-threshold F1, macro F1) is the mean over the model's subsets, without an interval.
    """
    models = run.models.set_index("model")
    means = run.subsets.groupby("model", sort=False).mean(numeric_only=True)
    order = list(models.index) if len(models) else list(means.index)
    columns: dict[str, list[tuple[str, str]]] = {}
    for column in (run.score, *headline_metrics(run)):
        digits = 1 if column == run.score else 3
        cells = []
        for model in order:
            if column in models.columns and model in models.index:
                row = models.loc[model]
                cells.append(
                    (
                        _fixed(row[column], digits),
                        _interval(
                            row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high"), digits
                        ),
                    )
                )
            else:
                value = means[column].get(model) if column in means else None
                cells.append((_fixed(value, digits), ""))
        columns[column] = cells
    return pd.DataFrame(columns, index=pd.Index(order, name="model"))


def headline_correlations(run: Run) -> list[dict[str, str]]:
    """Rows of the score's correlation with Variance and CSE, as printed (strings)."""
    rows = []
    for metric in headline_metrics(run):
        levels = run.correlations["metrics"][metric]
        for key, level in LEVELS:
            c = levels.get(key)
            if not c:
                continue
            within = key == "within_model"
            r, p = (c.get("r"), c.get("p")) if within else (c.get("pearson_r"), c.get("pearson_p"))
            permutation = ""
            if key == "model_level" and "model_permutation" in levels:
                permutation = _p(levels["model_permutation"].get("p"))
            rows.append(
                {
                    "metric": LABELS.get(metric, metric),
                    "level": level,
                    "n": str(c.get("n", "")),
                    "r": _fixed(r, 2),
                    "95% CI": (
                        ""
                        if within
                        else _interval(c.get("pearson_ci_low"), c.get("pearson_ci_high"), 2)
                    ),
                    "p": _p(p),
                    "perm. p": permutation,
                    "rho": "" if within else _fixed(c.get("spearman_rho"), 2),
                }
            )
    return rows


# ------------------------------------------------------------------------------ text


def _aligned(parts: Sequence[tuple[str, str]], compact: bool = False) -> list[str]:
    """Value and interval cells aligned on both: values right, intervals' numbers right."""
    comma = "," if compact else ", "
    value_width = max((len(v) for v, _ in parts), default=0)
    split = [i[1:-1].split(", ") if i else None for _, i in parts]
    low_width = max((len(s[0]) for s in split if s), default=0)
    high_width = max((len(s[1]) for s in split if s), default=0)
    cells = []
    for (value, _), s in zip(parts, split, strict=True):
        cell = value.rjust(value_width)
        if s:
            cell += f" [{s[0].rjust(low_width)}{comma}{s[1].rjust(high_width)}]"
        elif low_width:
            cell += " " * (low_width + high_width + 3 + len(comma))
        cells.append(cell)
    return cells


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return GAP.join(padded).rstrip()

    return [line(header), GAP.join("-" * w for w in widths), *(line(r) for r in rows)]


def display_names(names: Sequence[str], width: int) -> list[str] | None:
    """Names that fit in ``width`` and are still told apart, or ``None``.

    A hub id first loses its organisation (``deepset/roberta-base-squad2`` -> ``roberta-base-
    squad2``), then a name too long is cut in the middle.
    """
    if max((len(n) for n in names), default=0) <= width:
        return list(names)
    if width < MIN_NAME:
        return None
    bare = [n.rsplit("/", 1)[-1] if len(n) > width else n for n in names]
    if len(set(bare)) != len(bare):
        bare = list(names)
    shown = [shorten(n, width) for n in bare]
    return shown if len(set(shown)) == len(shown) else None


def _model_lines(run: Run) -> list[str]:
    cells = model_cells(run)
    header = [LABELS.get(c, c) for c in cells.columns]
    names = [str(m) for m in cells.index]
    right = [False, *([True] * len(header))]
    for compact in (False, True):
        columns = [_aligned(cells[c].tolist(), compact) for c in cells.columns]
        widths = [
            max(len(h), *(len(x) for x in col)) for h, col in zip(header, columns, strict=True)
        ]
        budget = WIDTH - sum(widths) - len(GAP) * len(widths)
        fits = max(len(n) for n in names) <= budget
        if fits or compact:
            shown = display_names(names, budget)
            if shown is not None:
                rows = [[name, *(col[i] for col in columns)] for i, name in enumerate(shown)]
                return _table(["model", *header], rows, right)
    # No room beside the numbers: each name on a line of its own, its numbers below it.
    table = _table(["", *header], [["", *(col[i] for col in columns)] for i in range(len(names))],
                   right)  # fmt: skip
    lines = ["model", *table[:2]]
    for name, row in zip(names, table[2:], strict=True):
        lines += [shorten(name, WIDTH), row]
    return lines


def _correlation_lines(run: Run) -> list[str]:
    rows = headline_correlations(run)
    if not rows:
        return []
    score = LABELS.get(run.score, run.score)
    header = [f"{score} vs", "level", "n", "r", "95% CI", "p", "perm. p", "rho"]
    keys = ["metric", "level", "n", "r", "95% CI", "p", "perm. p", "rho"]
    return _table(
        header,
        [[row[k] for k in keys] for row in rows],
        [False, False, True, True, False, True, True, True],
    )


def _wrap(text: str, prefix: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=prefix,
        subsequent_indent=prefix,
        break_long_words=True,
        break_on_hyphens=False,
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def summary_markdown(run: Run) -> str:
    """The panel's scores and headline correlations as 80-column text, for the terminal."""
    config = run.manifest["config"]
    score = LABELS.get(run.score, run.score)
    n_models = run.correlations.get("n_models", len(run.models))
    lines = _wrap(f"## ctxvec: {TASK_NAMES[config['task']]}, score {score}")
    lines += _wrap(
        f"{_count(n_models, 'model')} x {_count(config['subsets'], 'subset')} of "
        f"{config['subset_size']} examples; [ ]: 95% bootstrap interval over examples"
    )
    lines += ["", *_model_lines(run)]
    if run.score not in run.models.columns:
        lines += _wrap(f"{score}: mean over the model's subsets (models.csv does not hold it).")
    lines += [""]
    correlation = _correlation_lines(run)
    if correlation:
        lines += [*correlation, ""]
        lines += _wrap(
            "models: Pearson r over per-model means (the independent points), with its "
            "95% CI, p, permutation p and Spearman rho; subsets: over all (model, subset) "
            "points; within: repeated-measures r inside models."
        )
    for warning in warnings_for(run):
        lines += ["", *_wrap(warning, "> ")]
    lines += [""]
    lines += _wrap(
        f"All {len(run.metrics)} metrics, every level and test: correlations.json, "
        "models.csv, subsets.csv and report.html in the run's folder."
    )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ HTML

_STYLE = """
.ctxvec-study table { border-collapse: collapse; font-size: 12px; margin: .3rem 0 .6rem; }
.ctxvec-study th, .ctxvec-study td { border: 1px solid #d8dce5; padding: 2px 6px;
  text-align: right; white-space: nowrap; }
.ctxvec-study th { background: #f2f4f8; }
.ctxvec-study td:first-child, .ctxvec-study th:first-child { text-align: left; }
.ctxvec-study .scroll { overflow-x: auto; max-width: 100%; }
.ctxvec-study .row { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.ctxvec-study .warning { background: #fff4d6; border-left: 4px solid #e0a800;
  padding: .3rem .6rem; max-width: 60rem; }
.ctxvec-study img { max-width: 100%; height: auto; }
.ctxvec-study .muted { color: #667; }
"""


def _href(path: Path) -> str:
    """Relative to the kernel's folder when the run is below it (a notebook opens that)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        relative = ".."
    return Path(relative).as_posix() if not relative.startswith("..") else path.resolve().as_uri()


def summary_html(run: Run, metric: str = "variance") -> str:
    """The run in a notebook: per-model table, headline correlations, a scatter, the report."""
    config = run.manifest["config"]
    score = LABELS.get(run.score, run.score)
    n_models = run.correlations.get("n_models", len(run.models))
    rows = headline_correlations(run)
    correlation = (
        pd.DataFrame(rows).rename(columns={"metric": f"{score} vs"}).to_html(index=False)
        if rows
        else ""
    )
    every = correlation_frame(run).to_html(index=False, na_rep="", float_format=number)
    image = ""
    if metric in run.metrics and len(run.subsets):
        png = base64.b64encode(scatter_png(run, metric)).decode("ascii")
        label = html.escape(f"{score} vs {LABELS.get(metric, metric)}")
        image = f'<div><img alt="{label}" src="data:image/png;base64,{png}"></div>'
    warnings = "".join(f'<p class="warning">{html.escape(w)}</p>' for w in warnings_for(run))
    report = run.path / "report.html"
    where = (
        f'Report: <a href="{html.escape(_href(report))}" target="_blank">'
        f"<code>{html.escape(str(report))}</code></a> (open it in a browser). "
        if report.is_file()
        else ""
    ) + f"Tables: <code>{html.escape(str(run.path))}</code>."
    title = html.escape(f"ctxvec study: {TASK_NAMES[config['task']]}, score {score}")
    return (
        f'<div class="ctxvec-study"><style>{_STYLE}</style>'
        f"<h3>{title}</h3>"
        f'<p class="muted">{_count(n_models, "model")} x {_count(config["subsets"], "subset")} '
        f"of {config['subset_size']} examples; brackets: 95% bootstrap intervals over "
        "examples.</p>"
        f'<div class="scroll">{model_frame(run).to_html(index=False)}</div>'
        f'<div class="row">{image}<div><h4>Correlations with {html.escape(score)}</h4>'
        f"{correlation}{warnings}"
        f"<details><summary>Every metric and level</summary>"
        f'<div class="scroll">{every}</div></details></div></div>'
        f"<p>{where}</p></div>"
    )
