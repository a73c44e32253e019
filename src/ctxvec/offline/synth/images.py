"""Synthetic RGB images of three shapes and a texture, with one knob for how hard they are.

See :mod:`ctxvec.offline.synth` for what the data is made to test.
"""

from __future__ import annotations

import numpy as np

from ctxvec.errors import CtxvecError
from ctxvec.offline.synth.common import balanced_classes, check_difficulty

IMAGE_CLASSES = ("circle", "square", "triangle", "stripes")
# Masks are drawn on a grid this many times finer and averaged down, so edges are anti-aliased
# and a small shape keeps its outline instead of a staircase.
_SUPERSAMPLE = 4
_MAX_DISTRACTORS = 3


def make_images(
    n_images: int, seed: int = 0, difficulty: float = 0.5, size: int = 32
) -> tuple[list[np.ndarray], list[str]]:
    """Images ``[size, size, 3]`` uint8 and their class names, the same number of each class.

    Each image has one shape of its class (at a random position, scale, rotation and colour)
    over a background of a random colour, a faint linear gradient and Gaussian pixel noise.
    ``difficulty`` in [0, 1] raises the noise (sd 4 to 60 on the 0-255 scale), shrinks the
    shape (from about a third of the side to about a sixth) and lowers its contrast, and adds
    up to three distractors: shapes of the other classes, half the size or less and fainter,
    so the class is always that of the largest shape.
    """
    check_difficulty(difficulty)
    if size < 8:
        raise CtxvecError(f"images must be at least 8 pixels wide; got a size of {size}")
    rng = np.random.default_rng(seed)
    labels = balanced_classes(rng, IMAGE_CLASSES, n_images, "images")
    return [_image(rng, label, difficulty, size) for label in labels], labels


def _image(rng: np.random.Generator, label: str, difficulty: float, size: int) -> np.ndarray:
    base = rng.uniform(40, 215, size=3)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    tilt = rng.normal(size=2) * 20
    image = base + (tilt[0] * yy + tilt[1] * xx)[..., None]  # [size, size, 3]
    # Shape radius as a share of the side: large and varied when easy, small when hard.
    radius = rng.uniform(0.22, 0.34) * (1 - 0.4 * difficulty)
    contrast = rng.uniform(0.75, 1.0) * (150 - 90 * difficulty)
    others = [c for c in IMAGE_CLASSES if c != label]
    n_distractors = rng.binomial(_MAX_DISTRACTORS, difficulty)
    # Distractors first, so the labelled shape is drawn on top and never hidden.
    for kind in rng.choice(others, size=n_distractors):
        scale = radius * rng.uniform(0.3, 0.5)
        alpha = _mask(rng, str(kind), scale, size)
        image = _paint(rng, image, base, alpha, contrast * rng.uniform(0.3, 0.6))
    image = _paint(rng, image, base, _mask(rng, label, radius, size), contrast)
    image += rng.normal(0, 4 + 36 * difficulty, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _paint(
    rng: np.random.Generator,
    image: np.ndarray,
    base: np.ndarray,
    alpha: np.ndarray,
    contrast: float,
) -> np.ndarray:
    """Blend a colour ``contrast`` away from the background into ``image`` through ``alpha``."""
    # Each channel moves away from its nearer end of the range, so clipping rarely eats contrast.
    direction = np.abs(rng.normal(size=3)) * np.sign(127.5 - base)
    colour = base + contrast * direction / np.abs(direction).max()
    return image * (1 - alpha[..., None]) + colour * alpha[..., None]


def _mask(rng: np.random.Generator, kind: str, radius: float, size: int) -> np.ndarray:
    """Coverage in [0, 1] of one shape, ``[size, size]``; ``radius`` is a share of the side."""
    fine = size * _SUPERSAMPLE
    centre = rng.uniform(radius, 1 - radius, size=2) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = (np.mgrid[0:fine, 0:fine] + 0.5) / fine - 0.5
    y, x = yy - centre[0], xx - centre[1]
    # Coordinates in the shape's own rotated frame.
    u = np.cos(angle) * x + np.sin(angle) * y
    v = -np.sin(angle) * x + np.cos(angle) * y
    if kind == "circle":
        inside = u**2 + v**2 <= radius**2
    elif kind == "square":
        half = radius * 0.85  # about the circle's area
        inside = (np.abs(u) <= half) & (np.abs(v) <= half)
    elif kind == "triangle":
        # Equilateral: inside three half-planes at distance r/2 from the centre (circumradius r).
        r = radius * 1.3
        normals = angle + np.array([0.5, 7 / 6, 11 / 6]) * np.pi
        inside = np.ones_like(u, dtype=bool)
        for normal in normals:
            inside &= np.cos(normal) * x + np.sin(normal) * y <= r / 2
    else:  # stripes: a rotated square patch of bands, each 1.5 to 2.5 pixels wide
        period = rng.uniform(3, 5) / size
        half = radius * 0.9
        patch = (np.abs(u) <= half) & (np.abs(v) <= half)
        inside = patch & (np.mod(u, period) < period / 2)
    return inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))
