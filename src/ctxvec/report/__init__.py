"""The study's report, built from a finished run folder alone.

:mod:`~ctxvec.report.run` reads the folder and lays out its tables, :mod:`~ctxvec.report.figures`
draws the interactive plotly figures, :mod:`~ctxvec.report.attention` the section "Attention
against the score" (runs with attention statistics), :mod:`~ctxvec.report.html` writes
``report.html``, :mod:`~ctxvec.report.summary` the terminal's summary (80 columns), and
:mod:`~ctxvec.report.plots` the static matplotlib scatter plots a study writes beside them.
"""

from ctxvec.report.html import report_html, write_report
from ctxvec.report.run import Run, load_run
from ctxvec.report.summary import summary_markdown

__all__ = ["Run", "load_run", "report_html", "summary_markdown", "write_report"]
