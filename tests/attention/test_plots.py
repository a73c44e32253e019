"""Static attention figures: the data behind each figure, not only that a file exists; a causal
model's hidden keys masked, and said so."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex

from ctxvec.attention import attend, load_for_attention, select_tokens
from ctxvec.attention.plots import (
    CAUSAL_NOTE,
    MASKED,
    plot_head,
    plot_layer_heads,
    plot_overview,
    plot_statistics,
    save_figure,
    statistic_grid,
    write_attention_figures,
)
from ctxvec.errors import CtxvecError
from ctxvec.metrics.heads import CONTEXT, combine_statistics, input_statistics

QUESTION = "Who discovered polonium?"
CONTEXT_TEXT = "Marie Curie and Pierre Curie discovered it in 1898. " * 2


@pytest.fixture(scope="module", params=["bert", "xlnet"])
def attn(request, tiny_model):
    lm = load_for_attention(str(tiny_model(request.param, "qa", num_heads=4)), "qa", device="cpu")
    return attend(lm, question=QUESTION, context=CONTEXT_TEXT)


def lines(ax, gid: str) -> tuple[list[float], list[float]]:
    """y of horizontal and x of vertical lines with ``gid``."""
    found = [line for line in ax.lines if line.get_gid() == gid]
    horizontal = [
        line.get_ydata()[0] for line in found if line.get_ydata()[0] == line.get_ydata()[1]
    ]
    vertical = [line.get_xdata()[0] for line in found if line.get_xdata()[0] == line.get_xdata()[1]]
    return horizontal, vertical


def test_single_head_cropped_to_question_answer(attn) -> None:
    idx = select_tokens(attn, "question-answer", margin=1)
    assert len(idx) < len(attn.tokens)  # the crop leaves context out
    fig = plot_head(attn, layer=2, head=3, indices=idx)
    ax = fig.axes[0]
    shown = [attn.tokens[i] for i in idx]
    assert [t.get_text() for t in ax.get_xticklabels()] == shown
    assert [t.get_text() for t in ax.get_yticklabels()] == shown
    (image,) = [im for im in ax.images if im.get_gid() == "attention"]
    np.testing.assert_array_equal(image.get_array(), attn.weights[1, 2][np.ix_(idx, idx)])
    # The boundary sits before the first context token shown, on both axes.
    first_context = next(k for k, i in enumerate(idx) if attn.segment[i] == CONTEXT)
    assert lines(ax, "boundary") == ([first_context - 0.5], [first_context - 0.5])
    gaps = [k - 0.5 for k in range(1, len(idx)) if idx[k] != idx[k - 1] + 1]
    assert gaps and lines(ax, "gap") == (gaps, gaps)
    lo, hi = attn.span
    red = [
        i
        for i, t in zip(idx, ax.get_xticklabels(), strict=True)
        if to_hex(t.get_color()) == to_hex("crimson")
    ]
    assert red == list(range(lo, hi + 1))


def test_single_head_all_tokens_in_order(attn) -> None:
    ax = plot_head(attn, layer=-1, head=1).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == attn.tokens
    if attn.tokens[-1] == "<cls>":  # XLNet: specials last, not first
        assert labels[0] != "<cls>"
    assert ax.get_ylabel().startswith("query") and ax.get_xlabel().startswith("key")
    np.testing.assert_array_equal(ax.images[0].get_array(), attn.weights[-1, 0])


def test_layer_grid_has_every_head_of_the_layer(attn) -> None:
    fig = plot_layer_heads(attn, layer=1)
    panels = [ax for ax in fig.axes if ax.images and ax.images[0].get_gid() == "attention"]
    assert [ax.get_title() for ax in panels] == [f"head {h}" for h in range(1, 5)]
    for h, ax in enumerate(panels):
        np.testing.assert_array_equal(ax.images[0].get_array(), attn.weights[0, h])
        assert lines(ax, "boundary")[0] == [attn.boundary - 0.5]


def test_overview_is_layers_by_heads(attn) -> None:
    fig = plot_overview(attn)
    panels = [ax for ax in fig.axes if ax.images and ax.images[0].get_gid() == "attention"]
    assert len(panels) == attn.n_layers * attn.n_heads
    for k, ax in enumerate(panels):
        np.testing.assert_array_equal(ax.images[0].get_array(), attn.weights[k // 4, k % 4])
    assert [ax.get_title() for ax in panels[:4]] == ["H1", "H2", "H3", "H4"]


def test_statistics_heatmaps_hold_the_table() -> None:
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(6), size=(3, 4, 6))
    table = combine_statistics([input_statistics(w, np.array([-1, 0, 0, -1, 1, -1]))])
    fig = plot_statistics(table, "m")
    images = {im.get_gid(): im for ax in fig.axes for im in ax.images}
    assert set(images) == {
        "entropy", "entropy_ratio", "mean_distance", "special_share",
        "question_to_context", "context_to_question",
    }  # fmt: skip
    grid = statistic_grid(table, "mean_distance")
    assert grid.shape == (3, 4)
    np.testing.assert_array_equal(images["mean_distance"].get_array(), grid)
    row = table[(table["layer"] == 2) & (table["head"] == 3)]
    assert grid[1, 2] == row["mean_distance"].iloc[0]


def test_causal_model_masks_the_keys_a_query_cannot_see(attn, tiny_model) -> None:
    lm = load_for_attention(str(tiny_model("gpt2", "qa", num_heads=4)), "qa", device="cpu")
    causal = attend(lm, question=QUESTION, context=CONTEXT_TEXT)
    n = len(causal.tokens)
    above = np.triu(np.ones((n, n), bool), k=1)
    fig = plot_head(causal, layer=2, head=3)
    ax = fig.axes[0]
    (image,) = [im for im in ax.images if im.get_gid() == "attention"]
    shown = image.get_array()
    # Masked, not zero: the hidden keys take the grey of no weight on the scale.
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), above)
    np.testing.assert_array_equal(shown.data[~above], causal.weights[1, 2][~above])
    assert to_hex(image.cmap.get_bad()) == to_hex(MASKED)
    assert to_hex(image.cmap(image.norm(0.0))) != to_hex(MASKED)
    assert CAUSAL_NOTE in ax.get_title()
    assert ax.get_legend().get_gid() == "masked"
    assert CAUSAL_NOTE in plot_layer_heads(causal, 1).get_suptitle()
    grid = [im for a in plot_overview(causal).axes for im in a.images]
    assert all((np.ma.getmaskarray(im.get_array()) == above).all() for im in grid)
    assert "causal model" in plot_statistics(causal.statistics(), "m", causal=True).get_suptitle()
    # An encoder: nothing masked, no note.
    ax = plot_head(attn, layer=2, head=3).axes[0]
    assert not np.ma.getmaskarray(ax.images[0].get_array()).any()
    assert "causal" not in ax.get_title() and ax.get_legend() is None
    assert "causal" not in plot_overview(attn).get_suptitle()


@pytest.mark.slow
def test_save_figure_writes_each_format(attn, tmp_path) -> None:
    paths = save_figure(plot_head(attn, 1, 1), tmp_path / "head")
    magic = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}
    assert [p.suffix for p in paths] == [".png", ".svg", ".pdf"]
    for p in paths:
        assert p.read_bytes().startswith(magic[p.suffix[1:]])
    svg = (tmp_path / "head.svg").read_text()
    assert attn.tokens[1].replace("<", "&lt;") in svg  # labels are text in the SVG
    with pytest.raises(CtxvecError, match="unknown figure format"):
        save_figure(plot_head(attn, 1, 1), tmp_path / "x", ["jpg"])


@pytest.mark.slow
def test_write_attention_figures_names(attn, tmp_path) -> None:
    paths = write_attention_figures(attn, tmp_path, layer=-1, head=2, formats=["png"])
    assert sorted(p.name for p in paths) == [
        "layer2_head2.png", "layer2_heads.png", "overview.png", "statistics.png",
    ]  # fmt: skip
    with pytest.raises(CtxvecError, match="head 9 is out of range"):
        write_attention_figures(attn, tmp_path, head=9, formats=["png"])
