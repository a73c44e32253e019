"""Self-contained interactive HTML viewer of one input's attention.

:func:`write_viewer` writes one HTML file with every script, style and datum inline: it opens from
``file://`` with no network. The user picks a layer and a head, hovers a cell to read the query
token, key token and weight, switches between one head (token labels on both axes at large cell
sizes, question/context boundary in red, answer span labels in red) and the grid of a layer's
heads, and reads the per-head statistics (table for the chosen head, layer x head heatmap of one
statistic; a click selects that head). For a causal model the keys a query cannot see are grey,
masked rather than zero (hover says so), under a note saying the model is causal.
:func:`viewer_fragment` is the same viewer as an HTML fragment scoped to one ``div``, which
:meth:`ctxvec.attention.Attention._repr_html_` shows in a notebook; several viewers on one page
do not interfere.

Weights travel as little-endian ``uint16`` (``round(w * 65535)``), base64: 2 bytes per weight,
precise to 1.5e-5, about 4 MB for 6 layers x 12 heads x 170 tokens. Deliberately left out:
comparing two models side by side, and attention to or from a cropped token range (the static
figures crop; the viewer zooms and scrolls instead).
"""

from __future__ import annotations

import base64
import json
import uuid
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ctxvec import files
from ctxvec.attention.plots import statistic_grid
from ctxvec.attention.weights import Attention
from ctxvec.metrics.heads import available_statistics
from ctxvec.metrics.registry import label
from ctxvec.report.html import render


def _asset(name: str) -> str:
    return resources.files("ctxvec").joinpath("assets", name).read_text(encoding="utf-8")


def viewer_data(attn: Attention, table: pd.DataFrame | None = None) -> dict:
    """The JSON the page reads: tokens, segments, quantised weights, statistics per head."""
    table = attn.statistics() if table is None else table
    names = available_statistics(table)
    stats = {}
    for name in names:
        grid = statistic_grid(table, name)
        stats[name] = [[None if np.isnan(v) else float(v) for v in row] for row in grid]
    quantised = np.round(np.clip(attn.weights, 0.0, 1.0) * 65535).astype("<u2")
    return {
        "model": attn.model,
        "prediction": attn.describe(),
        "n_layers": attn.n_layers,
        "n_heads": attn.n_heads,
        "tokens": list(attn.tokens),
        "segment": [int(s) for s in attn.segment],
        "span": list(attn.span) if attn.span is not None else None,
        "boundary": attn.boundary,
        "causal": attn.causal,
        "weights": base64.b64encode(quantised.tobytes()).decode("ascii"),
        "stat_names": names,
        "stat_titles": {s: label(s) for s in names},
        "stats": stats,
    }


def viewer_fragment(attn: Attention, table: pd.DataFrame | None = None) -> str:
    """The viewer as an HTML fragment (style, root ``div``, data, script)."""
    # "</" inside a script element would end it early; JSON reads "<\/" as "</".
    payload = json.dumps(viewer_data(attn, table), ensure_ascii=False).replace("</", "<\\/")
    return render(
        "viewer_fragment.html.jinja",
        css=_asset("viewer.css"),
        js=_asset("viewer.js"),
        payload=payload,
        root_id=f"ctxvec-{uuid.uuid4().hex[:12]}",
    )


def viewer_html(attn: Attention, table: pd.DataFrame | None = None) -> str:
    """A complete HTML document holding the viewer."""
    return render("viewer.html.jinja", model=attn.model, fragment=viewer_fragment(attn, table))


def write_viewer(attn: Attention, path: str | Path, table: pd.DataFrame | None = None) -> Path:
    """Write the viewer to ``path`` atomically; ``table`` defaults to this input's statistics."""
    files.write_text(path, viewer_html(attn, table))
    return Path(path)
