"""The run's headline numbers: plain text for the terminal, HTML for a notebook.

:func:`summary_markdown` is what every study prints at its end and ``ctxvec report`` prints: the
answer (:mod:`~ctxvec.report.verdict`: whether the panel supports, contradicts or cannot decide
the hypothesis, and why), then per model the score and the baseline's two metrics (Variance,
CSE) with their bootstrap intervals, then the score's correlation with each of them over
per-model means, over all (model, subset) points and within models, and the plain caution of a
small panel. Tables are aligned plain text (Markdown's "simple tables"), and no line is longer
than 80 characters, whatever the panel: long model names are shortened in the middle. Every
other metric, level and statistic stays in the run's files and its report. :func:`summary_html`
shows the same in a notebook, with the verdict's forest plot, the full per-model table and a
small scatter plot (template ``assets/notebook.html.jinja``).
"""

from __future__ import annotations

import base64
import os
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ctxvec.metrics.registry import label
from ctxvec.report.dose import outcome as dose_outcome
from ctxvec.report.dose import result_of as dose_result
from ctxvec.report.dose import sentences as dose_sentences
from ctxvec.report.figures import forest, scatter
from ctxvec.report.html import render
from ctxvec.report.numbers import cell, interval, number, p_value
from ctxvec.report.plots import forest_png, scatter_png
from ctxvec.report.rogue import summary_line as standardised_line
from ctxvec.report.run import Run, correlation_frame, model_frame, warnings_for
from ctxvec.report.styles import shorten
from ctxvec.report.verdict import HEADLINE, answer_of

WIDTH = 80
GAP = "  "
MIN_NAME = 12
# textwrap breaks at ASCII whitespace only.
_GLUE = "\u00a0"
_RELATION = re.compile(r"\S+ [=<>]=? \S+|\[\S+, \S+\]")
LEVELS = (("model_level", "models"), ("subset_level", "subsets"), ("within_model", "within"))


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
                low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
                cells.append((number(row[column], f".{digits}f"), interval(low, high, digits)))
            else:
                value = means[column].get(model) if column in means else None
                cells.append((number(value, f".{digits}f"), ""))
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
                permutation = p_value(levels["model_permutation"].get("p"))
            rows.append(
                {
                    "metric": label(metric),
                    "level": level,
                    "n": str(c.get("n", "")),
                    "r": number(r),
                    "95% CI": (
                        ""
                        if within
                        else interval(c.get("pearson_ci_low"), c.get("pearson_ci_high"))
                    ),
                    "p": p_value(p),
                    "perm. p": permutation,
                    "rho": "" if within else number(c.get("spearman_rho")),
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
    header = [label(c) for c in cells.columns]
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
    score = label(run.score)
    header = [f"{score} vs", "level", "n", "r", "95% CI", "p", "perm. p", "rho"]
    keys = ["metric", "level", "n", "r", "95% CI", "p", "perm. p", "rho"]
    return _table(
        header,
        [[row[k] for k in keys] for row in rows],
        [False, False, True, True, False, True, True, True],
    )


def _wrap(text: str, prefix: str = "", indent: str | None = None) -> list[str]:
    """``text`` in lines of ``WIDTH``, the first after ``prefix``, the others after ``indent``
    (``prefix`` again by default). A relation (``p = 0.555``, ``|r| > 0.55``) and an interval
    stay on one line: their spaces are no-break spaces while wrapping."""
    glued = _RELATION.sub(lambda m: m[0].replace(" ", _GLUE), text)
    lines = textwrap.wrap(
        glued,
        WIDTH,
        initial_indent=prefix,
        subsequent_indent=prefix if indent is None else indent,
        break_long_words=True,
        break_on_hyphens=False,
    )
    return [line.replace(_GLUE, " ") for line in lines]


def _answer_lines(run: Run) -> list[str]:
    """The verdict: its lead, a bullet per headline metric, what the numbers mean."""
    answer = answer_of(run)
    if answer is None:
        return []
    lines = _wrap(answer.lead)
    for _, finding in answer.findings:
        lines += _wrap(finding, "- ", "  ")
    return [*lines, *_wrap(answer.explanation)]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def summary_markdown(run: Run) -> str:
    """The panel's scores and headline correlations as 80-column text, for the terminal."""
    config = run.manifest["config"]
    score = label(run.score)
    n_models = run.correlations.get("n_models", len(run.models))
    lines = _wrap(f"## ctxvec: {run.task}, score {score}")
    lines += ["", *_answer_lines(run), ""]
    if (dose := dose_result(run)) is not None:
        lines += _wrap(f"Dose-response (an intervention panel): {dose_outcome(dose)}.")
        for sentence in dose_sentences(dose):
            lines += _wrap(sentence, "- ", "  ")
        lines += [""]
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
            "95% CI, p (t-test, assumes normality), permutation p (no such assumption; the "
            "verdict uses it) and Spearman rho; subsets: over all (model, subset) points; "
            "within: repeated-measures r inside models."
        )
    for warning in warnings_for(run):
        lines += ["", *_wrap(warning, "> ")]
    if standardised := standardised_line(run):
        lines += ["", *_wrap(standardised)]
    lines += [""]
    lines += _wrap(
        f"All {len(run.metrics)} metrics, every level and test: correlations.json, "
        "models.csv, subsets.csv and report.html in the run's folder."
    )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ HTML


def _href(path: Path) -> str:
    """Relative to the kernel's folder when the run is below it (a notebook opens that)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        relative = ".."
    return Path(relative).as_posix() if not relative.startswith("..") else path.resolve().as_uri()


def summary_html(run: Run, metric: str = "variance") -> str:
    """The run in a notebook: the verdict and its figure, per-model table, headline
    correlations, a scatter, the report."""
    config = run.manifest["config"]
    score = label(run.score)
    rows = headline_correlations(run)
    answer = answer_of(run)
    image = None
    if metric in run.metrics and len(run.subsets):
        spec = scatter(run.subsets, run.score, metric)
        image = (spec.title, base64.b64encode(scatter_png(spec)).decode("ascii"))
    report = run.path / "report.html"
    return render(
        "notebook.html.jinja",
        title=f"ctxvec study: {run.task}, score {score}",
        answer=answer,
        answer_image=(
            base64.b64encode(forest_png(forest(answer, run.score))).decode("ascii")
            if answer is not None
            else None
        ),
        score=score,
        counts=f"{_count(run.correlations.get('n_models', len(run.models)), 'model')} x "
        f"{_count(config['subsets'], 'subset')} of {config['subset_size']} examples",
        model_table=model_frame(run).to_html(index=False),
        image=image,
        correlation_table=(
            pd.DataFrame(rows)
            .rename(columns={"metric": f"{score} vs", "p": "p (assumes normality)"})
            .to_html(index=False)
            if rows
            else ""
        ),
        warnings=warnings_for(run),
        every_table=correlation_frame(run).to_html(index=False, na_rep="", float_format=cell),
        report=(str(report), _href(report)) if report.is_file() else None,
        run_dir=str(run.path),
    )
