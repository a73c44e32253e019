"""Patch and frame attention: rollout against hand computations, the patch grid on a known
pattern down to the pixels and the figure's overlay, frames placed on the spectrogram's time
axis, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from ctxvec.attention.patches import (
    PatchLayout,
    attention_rollout,
    patch_attention_map,
    patch_grid,
    plot_frame_attention,
    plot_patch_attention,
    upsample_to_image,
)
from ctxvec.errors import CtxvecError


def softmax_rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = np.exp(rng.normal(size=shape))
    return x / x.sum(axis=-1, keepdims=True)


# Two layers that do not commute, so the order of the product shows.
LAYER_1 = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
LAYER_2 = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def test_rollout_of_two_layers_by_hand() -> None:
    # A_hat_1 = 0.5 I + 0.5 A_1 = [[1, 0, 0], [.5, .5, 0], [.25, .25, .5]]
    # A_hat_2 = 0.5 I + 0.5 A_2 = [[.5, 0, .5], [0, 1, 0], [0, 0, 1]]
    # R = A_hat_2 @ A_hat_1, row 0 = .5 * [1, 0, 0] + .5 * [.25, .25, .5]
    expected = np.array([[0.625, 0.125, 0.25], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    rollout = attention_rollout(np.stack([LAYER_1, LAYER_2])[:, None])
    assert rollout.dtype == np.float64
    np.testing.assert_allclose(rollout, expected, atol=1e-12)
    wrong_order = attention_rollout(np.stack([LAYER_2, LAYER_1])[:, None])
    assert not np.allclose(wrong_order, expected)


def test_rollout_averages_the_heads() -> None:
    # Two heads whose mean is LAYER_1: the same rollout as LAYER_1 alone.
    head_a = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    head_b = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    heads = np.stack([head_a, head_b])
    np.testing.assert_allclose(heads.mean(axis=0), LAYER_1)
    np.testing.assert_allclose(
        attention_rollout(heads[None]), attention_rollout(LAYER_1[None, None]), atol=1e-12
    )


def test_rollout_of_identity_is_identity() -> None:
    weights = np.broadcast_to(np.eye(5), (3, 2, 5, 5))
    np.testing.assert_allclose(attention_rollout(weights), np.eye(5), atol=1e-12)


def test_rollout_rows_sum_to_one() -> None:
    weights = softmax_rows(np.random.default_rng(0), (4, 3, 7, 7)).astype(np.float32)
    for residual in (0.0, 0.3, 0.5, 1.0):
        rollout = attention_rollout(weights, residual)
        np.testing.assert_allclose(rollout.sum(axis=1), 1.0, atol=1e-6)
        assert (rollout >= 0).all()


def test_rollout_without_residual_is_the_plain_product() -> None:
    weights = softmax_rows(np.random.default_rng(1), (3, 1, 6, 6))
    expected = weights[2, 0] @ weights[1, 0] @ weights[0, 0]
    np.testing.assert_allclose(attention_rollout(weights, residual=0.0), expected, atol=1e-12)


def test_rollout_renormalises_rows() -> None:
    # Rows that lost mass (tokens cropped out) count as their normalised selves.
    weights = softmax_rows(np.random.default_rng(4), (2, 2, 5, 5))
    shrunk = weights * np.array([0.5, 0.9, 0.3, 1.0, 0.7])[:, None]
    np.testing.assert_allclose(
        attention_rollout(shrunk[:, :1], residual=0.0),
        attention_rollout(weights[:, :1], residual=0.0),
        atol=1e-12,
    )
    np.testing.assert_allclose(attention_rollout(shrunk).sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    ("weights", "residual", "message"),
    [
        (np.ones((2, 3, 3)), 0.5, "must be [layers, heads, n, n]"),
        (np.ones((1, 1, 3, 4)), 0.5, "must be [layers, heads, n, n]"),
        (np.full((1, 1, 3, 3), 1 / 3), 1.5, "residual must be in [0, 1]"),
        (np.zeros((1, 1, 3, 3)), 0.0, "no mass"),
    ],
)
def test_rollout_errors(weights, residual, message) -> None:
    with pytest.raises(CtxvecError, match=message.replace("[", r"\[")) as error:
        attention_rollout(weights, residual)
    assert "\n" not in str(error.value)


# The known pattern: [CLS] and one more special token, then a 4x4 grid of patches; [CLS] puts
# all its mass on the patch at row 1, column 2 (token 2 + 1 * 4 + 2 = 8).
N_SPECIAL, SIDE = 2, 4
TARGET = (1, 2)
N = N_SPECIAL + SIDE * SIDE


@pytest.fixture
def known() -> np.ndarray:
    """``[1, 1, N, N]``: uniform rows, but [CLS] on the target patch alone."""
    weights = np.full((1, 1, N, N), 1.0 / N)
    weights[0, 0, 0] = 0.0
    weights[0, 0, 0, N_SPECIAL + TARGET[0] * SIDE + TARGET[1]] = 1.0
    return weights


def test_patch_grid_layout() -> None:
    layout = patch_grid(N, SIDE, SIDE)
    assert layout == PatchLayout(n_special=2, rows=4, cols=4)
    assert layout.n_tokens == N
    grid = layout.to_grid(np.arange(N))
    np.testing.assert_array_equal(grid[0], [2, 3, 4, 5])  # row-major, after the specials
    assert grid[TARGET] == 8
    # DINOv2 with 4 registers: [CLS] + 4 registers + 16 x 16 patches.
    assert patch_grid(1 + 4 + 256, 16, 16).n_special == 5
    # No special token at all (a model without [CLS]).
    assert patch_grid(12, 3, 4).n_special == 0


def test_known_pattern_lands_on_its_patch_and_pixels(known) -> None:
    layout = patch_grid(N, SIDE, SIDE)
    grid = patch_attention_map(known[0, 0, 0], layout)
    assert grid.shape == (SIDE, SIDE)
    assert np.unravel_index(grid.argmax(), grid.shape) == TARGET
    # Through the rollout too: half of [CLS] stays on itself, the other half on the patch.
    rolled = patch_attention_map(attention_rollout(known)[0], layout)
    assert np.unravel_index(rolled.argmax(), rolled.shape) == TARGET
    pixels = upsample_to_image(grid, 32, 32)  # 8x8 pixels per patch
    lit = np.zeros((32, 32), dtype=bool)
    lit[8:16, 16:24] = True
    np.testing.assert_array_equal(pixels > 0, lit)
    assert (pixels[lit] == 1.0).all()


def test_upsample_blocks_and_proportional_sizes() -> None:
    grid = np.arange(12, dtype=np.float32).reshape(3, 4)
    # The processed size: a plain block repeat.
    np.testing.assert_array_equal(upsample_to_image(grid, 6, 12), np.kron(grid, np.ones((2, 3))))
    # Any other size: as PIL's nearest-neighbour resize.
    for height, width in [(20, 28), (7, 5), (3, 4), (50, 9)]:
        expected = np.asarray(Image.fromarray(grid, mode="F").resize((width, height), 0))
        np.testing.assert_array_equal(upsample_to_image(grid, height, width), expected)


def test_patch_figure_overlay_sits_on_the_target_pixels(known) -> None:
    image = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    grid = patch_attention_map(known[0, 0, 0], patch_grid(N, SIDE, SIDE))
    fig = plot_patch_attention(image, grid, "cls -> patches")
    ax = fig.axes[0]
    (base,) = [im for im in ax.images if im.get_gid() == "image"]
    (overlay,) = [im for im in ax.images if im.get_gid() == "attention"]
    np.testing.assert_array_equal(base.get_array(), image)
    assert 0 < overlay.get_alpha() < 1
    assert overlay.get_extent() == base.get_extent() == [0, 32, 32, 0]
    # Where the overlay's cells fall on the image's pixels, and where its maximum is.
    values = overlay.get_array()
    left, right, bottom, top = overlay.get_extent()
    rows, cols = values.shape
    r, c = np.unravel_index(np.argmax(values), values.shape)
    cell_h, cell_w = (bottom - top) / rows, (right - left) / cols
    assert (r * cell_h, (r + 1) * cell_h, c * cell_w, (c + 1) * cell_w) == (8, 16, 16, 24)
    assert len(fig.axes) == 2  # the colour bar
    assert ax.get_title() == "cls -> patches"


def test_patch_figure_on_a_given_axes() -> None:
    fig = Figure()
    ax = fig.subplots()
    assert plot_patch_attention(np.zeros((8, 8, 3), np.uint8), np.eye(2), "t", ax=ax) is fig


@pytest.mark.parametrize(("n_frames", "n_time", "k"), [(25, 100, 7), (49, 100, 20), (10, 10, 0)])
def test_frame_attention_on_the_time_axis(n_frames, n_time, k) -> None:
    spectrogram = np.random.default_rng(3).normal(size=(16, n_time))
    weights = np.full(n_frames, 0.01)
    weights[k] = 1.0
    fig = plot_frame_attention(spectrogram, weights, "frames")
    ax = fig.axes[0]
    (image,) = ax.images
    assert image.get_gid() == "spectrogram" and image.origin == "lower"
    assert image.get_extent() == [0, n_time, 0, 16]
    (strip,) = [a for a in fig.axes if a is not ax]
    (steps,) = [p for p in strip.patches if p.get_gid() == "attention"]
    values, edges, _ = steps.get_data()
    peak = int(np.argmax(values))
    assert peak == k
    np.testing.assert_allclose(
        edges[[peak, peak + 1]], [k * n_time / n_frames, (k + 1) * n_time / n_frames]
    )
    assert strip.get_xlim() == ax.get_xlim() == (0, n_time)
    assert strip.get_title() == "frames"


def test_frame_figure_on_a_given_axes() -> None:
    fig = Figure()
    ax = fig.subplots()
    assert plot_frame_attention(np.zeros((4, 10)), np.ones(5) / 5, "t", ax=ax) is fig
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: patch_grid(10, 4, 4), "10 tokens cannot hold a 4x4 grid of 16 patches"),
        (lambda: patch_grid(10, 0, 4), "at least 1x1 patches"),
        (lambda: PatchLayout(1, 2, 2).to_grid(np.ones(4)), "one value per token (5)"),
        (lambda: upsample_to_image(np.ones(4), 8, 8), "need a [rows, cols] grid"),
        (lambda: plot_patch_attention(np.ones((4, 4)), np.ones((2, 2)), "t"), "[H, W, 3] image"),
        (lambda: plot_frame_attention(np.ones((4, 4)), np.ones((2, 2)), "t"), "[n_frames]"),
    ],
)
def test_errors_are_one_line(call, message) -> None:
    with pytest.raises(CtxvecError) as error:
        call()
    assert message in str(error.value)
    assert "\n" not in str(error.value)
