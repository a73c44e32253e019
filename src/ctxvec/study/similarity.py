"""Cross-model similarity: how alike the panel's models represent the same examples.

For each subset and every pair of models (panel order, ``model_a`` before ``model_b``), on the
examples every model of the subset ran (matched by id), it compares their pooled context
vectors: each example's mean sentence vector at the chosen layer
(:attr:`~ctxvec.study.units.UnitResult.vectors`, ``[n, hidden]``; a QA example of several
windows: their mean weighted by token counts). The measures are
:mod:`ctxvec.metrics.similarity`'s linear CKA (Kornblith et al. 2019; biased and unbiased HSIC)
and mutual k-NN alignment (Huh et al. 2024), one row each of ``similarity.csv``
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

Cost: per subset, each model's ``[n, n]`` kernel and neighbours once, then two elementwise
``[n, n]`` products per pair (``docs/outputs.md`` gives a timing).
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
from ctxvec.metrics.similarity import cka_of, knn_of, prepare
from ctxvec.metrics.stats import correlate, model_permutation_test
from ctxvec.study.units import UnitResult

# Huh et al.'s neighbours per example (their mutual_knn, k = 10).
DEFAULT_K = 10


def neighbours(n: int, k: int = DEFAULT_K) -> int:
    """The k used on ``n`` examples: ``k``, at most ``(n - 1) // 2``; 0 (undefined) below 3."""
    return min(k, (n - 1) // 2)


def similarity_table(results: Sequence[UnitResult], k: int = DEFAULT_K) -> pd.DataFrame | None:
    """``similarity.csv``: one row per subset and pair of models, with ``model_a``,
    ``model_b``, ``subset``, ``n`` (the examples every model of the subset ran), ``k`` and each
    measure of :data:`~ctxvec.metrics.registry.SIMILARITY`; None with fewer than two models that
    kept vectors. Each model's kernels and neighbours are computed once per subset
    (:func:`~ctxvec.metrics.similarity.prepare`), then every pair costs two ``[n, n]``
    products."""
    kept = [r for r in results if r.vectors is not None]
    models = list(dict.fromkeys(r.unit.model.label for r in kept))
    if len(models) < 2:
        return None
    by_subset: dict[int, dict[str, UnitResult]] = {}
    for r in kept:
        by_subset.setdefault(r.unit.subset, {})[r.unit.model.label] = r
    rows = []
    for subset, units in sorted(by_subset.items()):
        present = [m for m in models if m in units]
        ids = _shared_ids([units[m] for m in present])
        n, used = len(ids), neighbours(len(ids), k)
        prepared = {m: prepare(_vectors(units[m], ids), max(used, 0)) for m in present}
        for a, b in itertools.combinations(present, 2):
            pa, pb = prepared[a], prepared[b]
            rows.append(
                {
                    "model_a": a,
                    "model_b": b,
                    "subset": subset,
                    "n": n,
                    "k": used,
                    "cka": cka_of(pa, pb) if n >= 2 else math.nan,
                    "cka_unbiased": cka_of(pa, pb, unbiased=True) if n >= 4 else math.nan,
                    "mutual_knn": knn_of(pa, pb) if used >= 1 else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=["model_a", "model_b", "subset", "n", "k", *SIMILARITY])


def _shared_ids(units: Sequence[UnitResult]) -> list[str]:
    """The ids every unit ran, in the first unit's order."""
    common = set.intersection(*(set(u.rows["id"]) for u in units))
    return [i for i in units[0].rows["id"] if i in common]


def _vectors(unit: UnitResult, ids: Sequence[str]) -> np.ndarray:
    """``[len(ids), hidden]`` float64: the unit's vectors of ``ids``, in that order."""
    place = {i: row for row, i in enumerate(unit.rows["id"])}
    return unit.vectors[[place[i] for i in ids]].astype(np.float64)


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
