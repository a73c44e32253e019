"""Cross-model similarity: how alike the panel's models represent the same examples.

For each subset and every pair of models (panel order, ``model_a`` before ``model_b``), on the
examples both ran (matched by id), it compares their pooled context vectors: each example's mean
sentence vector at the chosen layer (:attr:`~ctxvec.study.units.UnitResult.vectors`, ``[n,
hidden]``; a QA example of several windows: their mean weighted by token counts). The measures
are :mod:`ctxvec.metrics.similarity`'s linear CKA (Kornblith et al. 2019; biased and unbiased
HSIC) and mutual k-NN alignment (Huh et al. 2024), one row each of ``similarity.csv``
(:func:`similarity_table`).

:func:`similarity_block` is ``correlations.json``'s ``"similarity"``: each measure's model x
model matrix averaged over subsets (the diagonal 1), the best model (highest mean score over
subsets), every other model's alignment with it, and the correlation of that alignment with
the score across those models (:func:`~ctxvec.metrics.stats.correlate`, and the permutation
test of :func:`~ctxvec.metrics.stats.model_permutation_test`; NaN below 3 models), which asks
Huh et al.'s question: do better models represent the data more alike the best one?

k: :data:`DEFAULT_K` = 10 neighbours, Huh et al.'s choice, lowered to ``(n - 1) // 2`` on a
subset of ``n < 21`` examples, so that a neighbourhood never holds more than half of the other
examples (with ``k = n - 1`` every neighbourhood is everything and the alignment is 1 whatever
the vectors); undefined (NaN) below 3 examples. Unbiased CKA needs 4 examples, biased 2.

Cost: per subset, pairs x (three ``[n, n]`` or ``[hidden, hidden]`` products): 20 models of 384
dimensions on 4 subsets of 500 examples take about a minute on two cores (``docs/outputs.md``).
Left out: a single model (nothing to compare), runs with ``metrics="core"`` (nothing pooled),
other layers than the chosen one, and kernel CKA.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ctxvec.metrics.registry import SIMILARITY
from ctxvec.metrics.similarity import linear_cka, mutual_knn
from ctxvec.metrics.stats import correlate, model_permutation_test
from ctxvec.study.units import UnitResult

# Huh et al.'s neighbours per example (their mutual_knn, k = 10).
DEFAULT_K = 10


def neighbours(n: int, k: int = DEFAULT_K) -> int:
    """The k used on ``n`` examples: ``k``, at most ``(n - 1) // 2``; 0 (undefined) below 3."""
    return min(k, (n - 1) // 2)


def similarity_table(results: Sequence[UnitResult], k: int = DEFAULT_K) -> pd.DataFrame | None:
    """``similarity.csv``: one row per subset and pair of models, with ``model_a``,
    ``model_b``, ``subset``, ``n`` (shared examples), ``k`` and each measure of
    :data:`~ctxvec.metrics.registry.SIMILARITY`; None with fewer than two models that kept
    vectors."""
    kept = [r for r in results if r.vectors is not None]
    models = list(dict.fromkeys(r.unit.model.label for r in kept))
    if len(models) < 2:
        return None
    by_subset: dict[int, dict[str, UnitResult]] = {}
    for r in kept:
        by_subset.setdefault(r.unit.subset, {})[r.unit.model.label] = r
    rows = []
    for subset, units in sorted(by_subset.items()):
        for a, b in itertools.combinations([m for m in models if m in units], 2):
            rows.append(
                {"model_a": a, "model_b": b, "subset": subset, **_compare(units[a], units[b], k)}
            )
    return pd.DataFrame(rows, columns=["model_a", "model_b", "subset", "n", "k", *SIMILARITY])


def _compare(a: UnitResult, b: UnitResult, k: int) -> dict[str, Any]:
    """The measures between two units' vectors on the examples both ran, in ``a``'s order."""
    place = {i: row for row, i in enumerate(b.rows["id"])}
    shared = [(row, place[i]) for row, i in enumerate(a.rows["id"]) if i in place]
    x = a.vectors[[p for p, _ in shared]].astype(np.float64)
    y = b.vectors[[q for _, q in shared]].astype(np.float64)
    n, used = len(shared), neighbours(len(shared), k)
    return {
        "n": n,
        "k": used,
        "cka": linear_cka(x, y) if n >= 2 else math.nan,
        "cka_unbiased": linear_cka(x, y, unbiased=True) if n >= 4 else math.nan,
        "mutual_knn": mutual_knn(x, y, used) if used >= 1 else math.nan,
    }


def similarity_block(table: pd.DataFrame, subsets: pd.DataFrame, score: str) -> dict[str, Any]:
    """``correlations.json``'s ``"similarity"`` from :func:`similarity_table`'s rows and the
    ``subsets.csv`` points (``model``, ``score``).

    Returns ``models`` (panel order), ``k`` and ``note`` (where a subset lowered it),
    ``matrix`` (per measure, ``[models, models]``: the mean over subsets where defined, 1 on
    the diagonal), ``best`` (highest mean score over subsets; the first in panel order on a
    tie), ``scores`` (each model's mean score), and per measure ``alignment`` (each other
    model's value with the best), its ``correlation`` with the score across those models and
    its ``model_permutation`` test.
    """
    models = list(dict.fromkeys([*table["model_a"], *table["model_b"]]))
    order = {m: i for i, m in enumerate(dict.fromkeys(subsets["model"]))}
    models.sort(key=lambda m: order.get(m, len(order)))
    means = table.groupby(["model_a", "model_b"])[list(SIMILARITY)].mean()
    scores = subsets.groupby("model", sort=False)[score].mean()
    best = max(models, key=lambda m: (scores[m], -models.index(m)))
    others = [m for m in models if m != best]
    block: dict[str, Any] = {
        "models": models,
        "k": DEFAULT_K,
        "note": _k_note(table),
        "best": best,
        "scores": {m: float(scores[m]) for m in models},
        "matrix": {},
        "alignment": {},
        "correlation": {},
        "model_permutation": {},
    }
    for measure in SIMILARITY:
        matrix = np.eye(len(models))
        for (a, b), value in means[measure].items():
            i, j = models.index(a), models.index(b)
            matrix[i, j] = matrix[j, i] = value
        alignment = [float(matrix[models.index(best), models.index(m)]) for m in others]
        ys = [float(scores[m]) for m in others]
        block["matrix"][measure] = matrix.tolist()
        block["alignment"][measure] = dict(zip(others, alignment, strict=True))
        block["correlation"][measure] = correlate(alignment, ys)
        block["model_permutation"][measure] = model_permutation_test(alignment, ys)
    return block


def _k_note(table: pd.DataFrame) -> str | None:
    """One line saying which subsets had k lowered below :data:`DEFAULT_K`, or None."""
    low = table[table["k"] < DEFAULT_K].drop_duplicates("subset")
    if low.empty:
        return None
    where = ", ".join(
        f"subset {s}: n = {n}, k = {k}"
        for s, n, k in low[["subset", "n", "k"]].itertuples(index=False)
    )
    return (
        f"mutual k-NN used fewer than {DEFAULT_K} neighbours on small subsets ({where}); "
        "k is at most (n - 1) // 2, undefined below 3 examples"
    )
