"""Attention over image patches and audio frames: rollout, the patch grid, and two figures.

Model-independent maths and drawing for ViT-like encoders, whose tokens are special tokens
([CLS], DeiT's distillation token, DINOv2's registers, AST's two) followed by the patches in
row-major grid order, and for audio encoders whose tokens are frames in time order.
:func:`attention_rollout` folds a model's layers into one ``[n, n]`` matrix (Abnar & Zuidema,
2020); :func:`patch_grid` says which tokens are patches; :func:`patch_attention_map` lays one
query's attention on the grid and :func:`upsample_to_image` onto the pixels;
:func:`plot_patch_attention` and :func:`plot_frame_attention` draw them over the image or the
spectrogram. Figures are bare :class:`matplotlib.figure.Figure` objects, written by
:func:`ctxvec.attention.plots.save_figure`.

Artists a test or a caller may look for carry a ``gid``: the ``image``, ``spectrogram`` and
``attention`` (overlay image, or the frames' step strip). Deliberately left out: running a model
(the caller passes weights), attention flow (max-flow, the paper's other method), gradient-based
attributions, and overlapping patches (AST's stride is smaller than its patch, so its grid is
placed edge to edge on the spectrogram, proportionally, not at each patch's exact span).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ctxvec.errors import CtxvecError

CMAP = "inferno"
OVERLAY_ALPHA = 0.5


def attention_rollout(weights: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout of Abnar & Zuidema (2020), "Quantifying Attention Flow in
    Transformers" (ACL 2020, arXiv:2005.00928), section 3, equation 1.

    Each layer's heads are averaged, the residual connection is added as identity,
    ``A_hat = residual * I + (1 - residual) * A`` (the paper: ``0.5 W_att + 0.5 I``), its rows
    are re-normalised, and the layers are multiplied from the first up:
    ``R = A_hat_L @ ... @ A_hat_1``. ``R[i, j]`` is how much of input token ``j`` reaches token
    ``i`` after the last layer given. Roll out to an earlier layer ``k`` with ``weights[:k]``.

    Args:
        weights: ``[layers, heads, n, n]``; row ``i`` is query ``i`` and sums to 1.
        residual: the identity's share, in [0, 1] (0: the plain product of the head means).

    Returns:
        ``[n, n]`` float64, rows summing to 1.

    Raises:
        CtxvecError: weights not ``[layers, heads, n, n]``, residual outside [0, 1], or a
            row with no mass.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4 or weights.shape[-1] != weights.shape[-2] or 0 in weights.shape[:2]:
        raise CtxvecError(
            f"attention weights must be [layers, heads, n, n], got shape {list(weights.shape)}"
        )
    if not 0.0 <= residual <= 1.0:
        raise CtxvecError(f"residual must be in [0, 1], got {residual}")
    n = weights.shape[-1]
    mixed = residual * np.eye(n) + (1.0 - residual) * weights.mean(axis=1)
    mass = mixed.sum(axis=-1, keepdims=True)
    if np.any(mass <= 0):
        raise CtxvecError("an attention row has no mass; give a residual above 0")
    rollout = np.eye(n)
    for layer in mixed / mass:
        rollout = layer @ rollout
    return rollout


@dataclass(frozen=True)
class PatchLayout:
    """Where the patches sit in a token sequence: ``n_special`` tokens, then ``rows x cols``
    patches in row-major order (for AST: rows are frequency bands, lowest first; columns time).
    """

    n_special: int
    rows: int
    cols: int

    @property
    def n_tokens(self) -> int:
        return self.n_special + self.rows * self.cols

    def to_grid(self, values: np.ndarray) -> np.ndarray:
        """``[rows, cols]``: the patch tokens' entries of ``values`` ``[n_tokens]``."""
        values = np.asarray(values)
        if values.shape != (self.n_tokens,):
            raise CtxvecError(
                f"expected one value per token ({self.n_tokens}), got shape {list(values.shape)}"
            )
        return values[self.n_special :].reshape(self.rows, self.cols)


def patch_grid(n_tokens: int, n_patches_h: int, n_patches_w: int) -> PatchLayout:
    """The layout of ``n_tokens`` tokens whose last ``n_patches_h * n_patches_w`` are patches
    (ViT, DeiT, BEiT, DINOv2 with or without registers, AST: the special tokens come first).

    Raises:
        CtxvecError: a grid side below 1, or fewer tokens than patches.
    """
    if n_patches_h < 1 or n_patches_w < 1:
        raise CtxvecError(
            f"a patch grid needs at least 1x1 patches, got {n_patches_h}x{n_patches_w}"
        )
    n_patches = n_patches_h * n_patches_w
    if n_tokens < n_patches:
        raise CtxvecError(
            f"{n_tokens} tokens cannot hold a {n_patches_h}x{n_patches_w} grid of {n_patches} "
            "patches; check the image size and the model's patch size"
        )
    return PatchLayout(n_tokens - n_patches, n_patches_h, n_patches_w)


def patch_attention_map(weights_row: np.ndarray, layout: PatchLayout) -> np.ndarray:
    """``[rows, cols]``: the attention one query pays to each patch, from its row of weights
    ``[n_tokens]`` (the specials' share is left out, not spread over the patches)."""
    return layout.to_grid(weights_row)


def _source(n_out: int, n_in: int) -> np.ndarray:
    """``[n_out]``: which of ``n_in`` equal cells each of ``n_out`` pixels' centre falls in
    (``floor((y + 0.5) * n_in / n_out)``, in integers)."""
    return (2 * np.arange(n_out) + 1) * n_in // (2 * n_out)


def upsample_to_image(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[height, width]``: each pixel takes the value of the grid cell it falls in.

    For the processed image (``height = rows * ph``, ``width = cols * pw``) patch ``(r, c)``
    covers exactly pixels ``[r*ph:(r+1)*ph, c*pw:(c+1)*pw]``; for any other size the cells are
    stretched proportionally: a pixel takes the cell its centre falls in (as PIL's NEAREST).
    """
    grid = np.asarray(grid)
    if grid.ndim != 2 or height < 1 or width < 1:
        raise CtxvecError(
            f"need a [rows, cols] grid and a positive size, got shape {list(grid.shape)} "
            f"and {height}x{width}"
        )
    rows, cols = grid.shape
    return grid[np.ix_(_source(height, rows), _source(width, cols))]


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax
    fig = Figure(figsize=figsize, dpi=150)
    return fig, fig.subplots()


def plot_patch_attention(
    image: np.ndarray, grid: np.ndarray, title: str, ax: Axes | None = None
) -> Figure:
    """The image with the attention grid over it as a semi-transparent heatmap and a colour bar.

    Both are drawn on one extent, ``(0, W, H, 0)``, so grid cell ``(r, c)`` covers the pixels
    :func:`upsample_to_image` gives it.

    Args:
        image: ``[H, W, 3]`` uint8, the image the model saw (or the original: cells stretch).
        grid: ``[rows, cols]``, e.g. from :func:`patch_attention_map`.
        ax: draw here (default: a new figure).
    """
    image, grid = np.asarray(image), np.asarray(grid)
    if image.ndim != 3 or grid.ndim != 2:
        raise CtxvecError(
            f"need an [H, W, 3] image and a [rows, cols] grid, got shapes "
            f"{list(image.shape)} and {list(grid.shape)}"
        )
    height, width = image.shape[:2]
    fig, ax = _axes(ax, (5.0, 4.2))
    extent = (0, width, height, 0)
    ax.imshow(image, extent=extent, interpolation="nearest", gid="image")
    overlay = ax.imshow(
        grid,
        extent=extent,
        cmap=CMAP,
        vmin=0.0,
        alpha=OVERLAY_ALPHA,
        interpolation="nearest",
        gid="attention",
    )
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.colorbar(overlay, ax=ax, shrink=0.8, label="attention")
    return fig


def plot_frame_attention(
    spectrogram: np.ndarray, frame_weights: np.ndarray, title: str, ax: Axes | None = None
) -> Figure:
    """The spectrogram with the attention over its frames as a step strip above it.

    Frame ``k`` of ``n_frames`` spans time columns ``[k * n_time / n_frames,
    (k + 1) * n_time / n_frames)`` of the spectrogram (drawn on extent ``(0, n_time)``), so
    frames at a coarser rate than the columns (wav2vec 2.0's 20 ms against 10 ms) line up.

    Args:
        spectrogram: ``[n_mels, n_time]``, lowest band first (drawn with ``origin="lower"``).
        frame_weights: ``[n_frames]``, e.g. one query's row of weights without the specials.
        ax: the spectrogram's axes (default: a new figure); the strip is added above it.
    """
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    spectrogram, frame_weights = np.asarray(spectrogram), np.asarray(frame_weights)
    if spectrogram.ndim != 2 or frame_weights.ndim != 1 or frame_weights.size == 0:
        raise CtxvecError(
            f"need an [n_mels, n_time] spectrogram and [n_frames] weights, got shapes "
            f"{list(spectrogram.shape)} and {list(frame_weights.shape)}"
        )
    n_mels, n_time = spectrogram.shape
    fig, ax = _axes(ax, (7.0, 3.8))
    ax.imshow(
        spectrogram,
        origin="lower",
        aspect="auto",
        extent=(0, n_time, 0, n_mels),
        interpolation="nearest",
        gid="spectrogram",
    )
    ax.set_xlabel("time (spectrogram frame)")
    ax.set_ylabel("frequency bin")
    # A divider, not a second subplot: the strip sits above the caller's axes too.
    strip = make_axes_locatable(ax).append_axes("top", size="30%", pad=0.08, sharex=ax)
    edges = np.linspace(0.0, n_time, frame_weights.size + 1)
    strip.stairs(frame_weights, edges, fill=True, color="crimson", alpha=0.8, gid="attention")
    strip.set_xlim(0, n_time)
    top = float(frame_weights.max())
    strip.set_ylim(0, 1.05 * top if top > 0 else 1.0)
    strip.set_ylabel("attention", fontsize=7)
    strip.tick_params(labelbottom=False, labelsize=6)
    strip.set_title(title, fontsize=9)
    return fig
