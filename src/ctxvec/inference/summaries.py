"""From a forward pass's per-feature output to per-example metrics and subset-level metrics.

A QA example may span several windows (features); its metrics are the token-weighted mean over
them, and so are its sentence vectors. Subset-level metrics pool the sampled token vectors
(IsoScore, Ethayarajh's random-token baseline) and, for classification, the sentence vectors
(class separability); the study's cross-model similarity compares the models' mean sentence
vectors (:mod:`ctxvec.study.similarity`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ctxvec.errors import MetricUndefinedError, TooFewPointsError
from ctxvec.inference.forward import ForwardOutput
from ctxvec.metrics.geometry import (
    class_separability,
    isoscore,
    random_token_baseline,
    rogue_shares,
)


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
        sentence: where the task keeps them (:attr:`~ctxvec.inference.forward.Keep.sentence`),
            ``{"summary" | "mean": [n_examples, hidden]}`` float32: per example, the mean over
            its windows weighted by their token counts (one window: its vectors as they are).
        standard: ``[2, hidden]`` float64, the per-dimension mean and standard deviation the
            pass standardised the cosine metrics with (``standardise``), the same in every
            part of a unit; ``[2, 0]`` when it did not.
    """

    tokens: np.ndarray
    keys: np.ndarray
    examples: np.ndarray
    sentence: dict[str, np.ndarray] = field(default_factory=dict)
    standard: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))

    @classmethod
    def of_pass(
        cls, out: ForwardOutput, feature_keys: Sequence[tuple[int, int]]
    ) -> PooledSample | None:
        """The sample of one pass; ``feature_keys`` gives each feature's (example, window).

        The pass's sentence vectors, if it kept any, become one per example: the mean of its
        windows' vectors weighted by their token counts, as :func:`example_metrics` weights
        the metrics.
        """
        if out.tokens is None:
            return None
        windows = np.asarray(feature_keys, np.int64).reshape(-1, 2)
        keys = np.column_stack([windows[out.token_feature], out.token_rank])
        examples, owner = np.unique(windows[:, 0], return_inverse=True)
        weights = out.n_tokens.astype(np.float64)
        totals = np.bincount(owner, weights, minlength=len(examples))
        sentence = {}
        for name, vectors in (out.sentence or {}).items():
            # float64 sums: an example of one window gets (x w) / w, which is x exactly.
            summed = np.zeros((len(examples), vectors.shape[1]))
            np.add.at(summed, owner, vectors * weights[:, None])
            sentence[name] = (summed / totals[:, None]).astype(np.float32)
        standard = out.standard if out.standard is not None else np.zeros((2, 0))
        return cls(out.tokens, keys, examples, sentence, standard).sorted()

    def sorted(self) -> PooledSample:
        order = np.lexsort(self.keys.T[::-1])
        by_example = np.argsort(self.examples, kind="stable")
        return PooledSample(
            self.tokens[order],
            self.keys[order],
            self.examples[by_example],
            {k: v[by_example] for k, v in self.sentence.items()},
            self.standard,
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
            parts[0].standard,
        ).sorted()


def pooled_metrics(
    sample: PooledSample | None,
    self_similarity_mean: float,
    labels: Sequence[int] | None = None,
) -> dict[str, float]:
    """Metrics of a whole subset at the chosen layer, from its pooled sample.

    ``isoscore`` (NaN when the sample has fewer than 5 points per dimension), the
    ``random_baseline`` of Ethayarajh (2019) (on the standardised tokens when the pass
    standardised, :attr:`PooledSample.standard`) and ``self_similarity_adjusted`` (the subset's mean
    self-similarity minus that baseline), the rogue-dimension shares ``rogue_top1`` and
    ``rogue_top3`` (:func:`~ctxvec.metrics.geometry.rogue_shares`; NaN for fewer than 2 tokens
    or a nearly isotropic sample); with ``labels`` (classification, in example order),
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
        # Standardised as the cosine metrics were, so that the adjusted self-similarity
        # compares like with like; IsoScore and the rogue shares describe the raw vectors.
        standard = sample.standard
        compared = (tokens - standard[0]) / standard[1] if standard.size else tokens
        result["random_baseline"] = random_token_baseline(compared, owners)
    else:
        result["random_baseline"] = float("nan")
    result["self_similarity_adjusted"] = self_similarity_mean - result["random_baseline"]
    shares = rogue_shares(tokens) if len(tokens) > 1 else {1: math.nan, 3: math.nan}
    result["rogue_top1"], result["rogue_top3"] = shares[1], shares[3]
    if labels is not None and sample.sentence and len(set(labels)) > 1:
        for pooling, vectors in sample.sentence.items():
            for name, value in class_separability(vectors, labels).items():
                result[f"{name}_{pooling}"] = value
    return result
