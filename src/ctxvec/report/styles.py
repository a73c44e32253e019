"""How each model (and each metric's curve) looks, the same in every figure and renderer.

:func:`model_styles` gives each model of a panel a :class:`ModelStyle`. A panel whose names carry
training steps (a zoo's ``bert-step10``, ``bert-step200``, ``minilm-step30``) is grouped by
family: one colour per family, a lighter shade and another marker for each earlier step, and one
legend group per family with its steps as entries; past ten families (the demo's zoo has eleven)
the colours come again in another shade, with markers of their own. Other panels (hub ids) get
one colour per model; past ten models the colours come again in another shade and with another
marker, so no two models look alike. Long names are shortened in legends (the whole name stays
in hover text).

Left out: sizes, fonts and legend placement, which each renderer sets for its medium.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Ten hues that stay apart on white (d3's category10, matplotlib's tab10).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# Point markers as (plotly symbol, matplotlib marker); the diamond is kept for the means.
SYMBOLS = (
    ("circle", "o"),
    ("square", "s"),
    ("triangle-up", "^"),
    ("pentagon", "p"),
    ("hexagon", "h"),
    ("star", "*"),
    ("triangle-down", "v"),
    ("cross", "P"),
    ("x", "X"),
)
MEAN_SYMBOL = ("diamond", "D")
# A checkpoint name that ends in its training step: bert-step10, run1/checkpoint-500, x_ckpt3.
_STEP = re.compile(r"^(?P<family>.+?)[-_/@. ]*(?:step|checkpoint|ckpt)[-_ ]?(?P<step>\d+)$", re.I)
LEGEND_LABEL_WIDTH = 28


@dataclass(frozen=True)
class ModelStyle:
    """How one model is drawn in every figure.

    Attributes:
        colour: ``#rrggbb``.
        symbol: plotly marker symbol of its points; ``marker``: the same in matplotlib.
        family: the name without its step (the whole name when it has none).
        step: the training step read from the name, or ``None``.
        group: legend group title (the family) when the family has several checkpoints.
        label: its legend entry (``step 10`` inside a group, else the shortened name).
    """

    colour: str
    symbol: str
    marker: str
    family: str
    step: int | None
    group: str | None
    label: str


def split_step(name: str) -> tuple[str, int | None]:
    """``("bert", 10)`` for ``bert-step10``; ``(name, None)`` for a name without a step."""
    match = _STEP.match(name)
    if match is None:
        return name, None
    return match["family"], int(match["step"])


def shorten(text: str, width: int) -> str:
    """``text`` cut in the middle to at most ``width`` characters (both ends say the most)."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    head = (width - 2 + 1) // 2
    return text[:head] + ".." + text[len(text) - (width - 2 - head) :]


def series_colour(i: int) -> str:
    """The ``i``-th colour of a figure's series: the palette, then again in other shades."""
    return _tier_colour(PALETTE[i % len(PALETTE)], i // len(PALETTE))


def model_styles(models: Sequence[str]) -> dict[str, ModelStyle]:
    """A distinct look for each model, grouped by family when the names carry steps."""
    models = list(dict.fromkeys(models))
    parsed = {m: split_step(m) for m in models}
    members: dict[str, list[str]] = {}
    for m in models:
        members.setdefault(parsed[m][0], []).append(m)
    grouped = any(len(ms) > 1 for ms in members.values())
    styles: dict[str, ModelStyle] = {}
    if not grouped:
        for i, m in enumerate(models):
            symbol, marker = SYMBOLS[(i // len(PALETTE)) % len(SYMBOLS)]
            label = shorten(m, LEGEND_LABEL_WIDTH)
            styles[m] = ModelStyle(series_colour(i), symbol, marker, m, parsed[m][1], None, label)
        return styles
    for f, (family, ms) in enumerate(members.items()):
        base = series_colour(f)
        # Earliest step first, a name without a step (the final model) last; ties keep panel
        # order. A step that two names share cannot label them: they keep their names.
        ordered = sorted(ms, key=lambda m: (parsed[m][1] is None, parsed[m][1] or 0))
        steps = [parsed[m][1] for m in ordered]
        for rank, m in enumerate(ordered):
            step = parsed[m][1]
            # The latest checkpoint in the family's full colour, earlier ones lighter.
            light = 0.6 * (len(ordered) - 1 - rank) / (len(ordered) - 1) if len(ordered) > 1 else 0
            # A family sharing a hue with one ten before it gets other markers too.
            tier = f // len(PALETTE)
            symbol, marker = SYMBOLS[(rank + 4 * tier) % len(SYMBOLS)]
            if len(ms) > 1:
                unique = step is not None and steps.count(step) == 1
                label = f"step {step}" if unique else shorten(m, LEGEND_LABEL_WIDTH)
                group = shorten(family, LEGEND_LABEL_WIDTH)
            else:
                label, group = shorten(m, LEGEND_LABEL_WIDTH), None
            styles[m] = ModelStyle(
                _mix(base, "#ffffff", light), symbol, marker, family, step, group, label
            )
    return {m: styles[m] for m in models}


def legend_order(styles: dict[str, ModelStyle]) -> list[str]:
    """Models in legend order: families in panel order, each family's steps ascending."""
    families = list(dict.fromkeys(s.family for s in styles.values()))
    return sorted(
        styles,
        key=lambda m: (
            families.index(styles[m].family),
            styles[m].step is None,
            styles[m].step or 0,
        ),
    )


def _hex(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _mix(colour: str, other: str, amount: float) -> str:
    a, b = _hex(colour), _hex(other)
    return "#" + "".join(f"{round(x + amount * (y - x)):02x}" for x, y in zip(a, b, strict=True))


def _tier_colour(colour: str, tier: int) -> str:
    """The palette's colours again, another shade per round of ten: base, darker, lighter."""
    if tier == 0:
        return colour
    amount = min(0.25 + 0.15 * ((tier - 1) // 2), 0.7)
    return _mix(colour, "#000000" if tier % 2 else "#ffffff", amount)
