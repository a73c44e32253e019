"""From a forward pass's per-feature output to per-example metrics and subset-level metrics.

A QA example may span several windows (features); its metrics are the token-weighted mean over
them. Subset-level metrics pool the sampled token vectors (IsoScore, Ethayarajh's random-token
baseline) and, for classification, the sentence vectors (class separability).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ctxvec.errors import MetricUndefinedError, TooFewPointsError
from ctxvec.inference.forward import ForwardOutput
from ctxvec.metrics.geometry import class_separability, isoscore, random_token_baseline


def example_metrics(out: ForwardOutput, feats: Sequence[int]) -> dict[str, float | list[float]]:
    """One example's metrics from its features (QA windows; one feature for classification).

    Each metric is the mean over the features weighted by their token counts; per-layer values
    come as lists ``{metric}_by_layer`` aligned with ``out.layers``.
    """
    weights = out.n_tokens[feats].astype(np.float64)
    row: dict[str, float | list[float]] = {
        name: float(np.average(values[feats], weights=weights))
        for name, values in out.metrics.items()
    }
    for name, values in out.layer_metrics.items():
        row[f"{name}_by_layer"] = np.average(values[feats], axis=0, weights=weights).tolist()
    return row


def check_defined(metrics: Mapping[str, object], example_id: str, model: str) -> None:
    """Stop with a one-line error where the study's own metrics are undefined for an example."""
    if not (np.isfinite(metrics["variance"]) and np.isfinite(metrics["cse"])):
        raise MetricUndefinedError(
            f"Variance/CSE undefined for example '{example_id}' with model '{model}' (a token "
            "vector is constant or zero); check the checkpoint's weights or pick another --layer"
        )


def pooled_metrics(
    out: ForwardOutput,
    feature_example: Sequence[int],
    self_similarity_mean: float,
    labels: Sequence[int] | None = None,
) -> dict[str, float]:
    """Metrics of a whole subset at the chosen layer, from the pooled token sample.

    ``isoscore`` (NaN when the sample has fewer than 5 points per dimension), the
    ``random_baseline`` of Ethayarajh (2019) and ``self_similarity_adjusted`` (the subset's mean
    self-similarity minus that baseline); with ``labels`` (classification), class separability
    of the summary-token and mean-pooled sentence vectors. Empty where nothing was pooled
    (``metrics="core"``).
    """
    result: dict[str, float] = {}
    tokens = out.tokens
    if tokens is None:
        return result
    owners = np.asarray(feature_example)[out.token_feature]
    try:
        result["isoscore"] = isoscore(tokens)
    except TooFewPointsError:
        result["isoscore"] = float("nan")
    if len(np.unique(owners)) > 1:
        result["random_baseline"] = random_token_baseline(tokens, owners)
    else:
        result["random_baseline"] = float("nan")
    result["self_similarity_adjusted"] = self_similarity_mean - result["random_baseline"]
    if labels is not None and out.sentence is not None and len(set(labels)) > 1:
        for pooling, vectors in out.sentence.items():
            for name, value in class_separability(vectors, labels).items():
                result[f"{name}_{pooling}"] = value
    return result
