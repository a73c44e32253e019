"""The seeded, disjoint subsets of a dataset that every model of a study is measured on."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ctxvec.errors import CtxvecError


def select_subsets(
    n_examples: int,
    n_subsets: int,
    size: int,
    seed: int,
    starts: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Seeded, disjoint subsets of example indices, the same for every model.

    The examples are shuffled once with ``numpy.random.default_rng(seed)``; subset ``k`` is the
    block of ``size`` shuffled positions beginning at ``starts[k]`` (default ``k * size``, i.e.
    consecutive blocks). The baseline used ``starts = 0, 1000, 2000, 5000``.

    Returns:
        ``n_subsets`` arrays of ``[size]`` indices into the dataset.
    """
    if n_subsets < 1 or size < 1:
        raise CtxvecError("the number of subsets and the subset size must be at least 1")
    starts = list(starts) if starts is not None else [k * size for k in range(n_subsets)]
    if len(starts) != n_subsets:
        raise CtxvecError(f"{len(starts)} subset starts given for {n_subsets} subsets")
    spans = sorted((s, s + size) for s in starts)
    if any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
        raise CtxvecError(f"subsets of {size} starting at {starts} overlap; space the starts out")
    if spans[-1][1] > n_examples or spans[0][0] < 0:
        raise CtxvecError(
            f"{n_subsets} subsets of {size} (last ending at {spans[-1][1]}) need more than the "
            f"{n_examples} examples available; lower --subset-size or --subsets"
        )
    order = np.random.default_rng(seed).permutation(n_examples)
    return [order[s : s + size] for s in starts]
