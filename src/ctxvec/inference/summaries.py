"""From a forward pass's per-feature output to per-example metrics and subset-level metrics.

A QA example may span several windows (features); its metrics are the token-weighted mean over
them. Subset-level metrics pool the sampled token vectors (IsoScore, Ethayarajh's random-token
baseline) and, for classification, the sentence vectors (class separability).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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


@dataclass
class PooledSample:
    """What a subset's pooled metrics are computed from, in a canonical order.

    Token vectors are kept sorted by ``keys`` = (example, window, rank among the window's
    measured tokens), and sentence vectors by example, so that the parts of a unit computed
    apart (shards) merge into exactly the sample of the whole unit.

    Attributes:
        tokens: ``[n_sampled, hidden]`` float32.
        keys: ``[n_sampled, 3]`` int64: example index in the unit, window, rank.
        examples: ``[n_examples]`` the example index of each row of ``sentence``.
        sentence: classification only; ``{"summary" | "mean": [n_examples, hidden]}`` float32.
    """

    tokens: np.ndarray
    keys: np.ndarray
    examples: np.ndarray
    sentence: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of_pass(
        cls,
        out: ForwardOutput,
        feature_keys: Sequence[tuple[int, int]],
        sentence_features: Sequence[int] = (),
    ) -> PooledSample | None:
        """The sample of one pass; ``feature_keys`` gives each feature's (example, window), and
        ``sentence_features`` the features whose sentence vectors are kept, one per example."""
        if out.tokens is None:
            return None
        owner = np.asarray(feature_keys, np.int64).reshape(-1, 2)[out.token_feature]
        keys = np.column_stack([owner, out.token_rank])
        sentence = {k: v[list(sentence_features)] for k, v in (out.sentence or {}).items()}
        examples = np.asarray([feature_keys[f][0] for f in sentence_features], np.int64)
        return cls(out.tokens, keys, examples, sentence).sorted()

    def sorted(self) -> PooledSample:
        order = np.lexsort(self.keys.T[::-1])
        by_example = np.argsort(self.examples, kind="stable")
        return PooledSample(
            self.tokens[order],
            self.keys[order],
            self.examples[by_example],
            {k: v[by_example] for k, v in self.sentence.items()},
        )

    @classmethod
    def merge(cls, parts: Sequence[PooledSample]) -> PooledSample:
        """The sample of the parts together, as if computed in one pass."""
        names = parts[0].sentence.keys()
        return cls(
            np.concatenate([p.tokens for p in parts]),
            np.concatenate([p.keys for p in parts]),
            np.concatenate([p.examples for p in parts]),
            {k: np.concatenate([p.sentence[k] for p in parts]) for k in names},
        ).sorted()


def pooled_metrics(
    sample: PooledSample | None,
    self_similarity_mean: float,
    labels: Sequence[int] | None = None,
) -> dict[str, float]:
    """Metrics of a whole subset at the chosen layer, from its pooled sample.

    ``isoscore`` (NaN when the sample has fewer than 5 points per dimension), the
    ``random_baseline`` of Ethayarajh (2019) and ``self_similarity_adjusted`` (the subset's mean
    self-similarity minus that baseline); with ``labels`` (classification, in example order),
    class separability of the summary-token and mean-pooled sentence vectors. Empty where
    nothing was pooled (``metrics="core"``).
    """
    result: dict[str, float] = {}
    if sample is None:
        return result
    tokens, owners = sample.tokens, sample.keys[:, 0]
    try:
        result["isoscore"] = isoscore(tokens)
    except TooFewPointsError:
        result["isoscore"] = float("nan")
    if len(np.unique(owners)) > 1:
        result["random_baseline"] = random_token_baseline(tokens, owners)
    else:
        result["random_baseline"] = float("nan")
    result["self_similarity_adjusted"] = self_similarity_mean - result["random_baseline"]
    if labels is not None and sample.sentence and len(set(labels)) > 1:
        for pooling, vectors in sample.sentence.items():
            for name, value in class_separability(vectors, labels).items():
                result[f"{name}_{pooling}"] = value
    return result
