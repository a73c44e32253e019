"""The study's report, built from a finished run folder alone.

:mod:`~ctxvec.report.run` reads the folder and lays out its tables;
:mod:`~ctxvec.report.verdict` states its answer (does the panel support, contradict or not decide
the hypothesis), which the report, the summary and the notebook view open with. Each figure is
defined once in :mod:`~ctxvec.report.figures` (models styled by :mod:`~ctxvec.report.styles`)
and drawn by two renderers: :mod:`~ctxvec.report.interactive` (plotly, the report) and
:mod:`~ctxvec.report.plots` (matplotlib: the PNG and SVG files a study writes, and the
notebook's image). :mod:`~ctxvec.report.attention` draws the section "Attention against the
score" (runs with attention statistics), :mod:`~ctxvec.report.html` makes every HTML page from
its templates (``report.html``, the notebook view), :mod:`~ctxvec.report.summary` the
terminal's summary (80 columns) and the notebook view, and :mod:`~ctxvec.report.numbers`
writes every number they print.
"""

from ctxvec.report.html import report_html, write_report
from ctxvec.report.run import Run, load_run
from ctxvec.report.summary import summary_markdown

__all__ = ["Run", "load_run", "report_html", "summary_markdown", "write_report"]
