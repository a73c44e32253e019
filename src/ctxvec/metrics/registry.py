"""Every number a study reports, declared once: its name, label, meaning, level and direction.

A :class:`Metric` is a column name (``subsets.csv``, ``examples.parquet``, ``attention.csv``)
with the label figures and tables print, a one-line description, the level it is measured at
(an ``example``'s tokens, averaged over a subset; vectors ``pooled`` over a subset; an attention
``head``; or a task ``score``) and which way means "more discriminative" context vectors
(higher or lower; ``None`` where the question does not apply). Columns, tables, plots, the
report and the summary read these declarations; the formulas live in
:mod:`ctxvec.metrics.context`, :mod:`~ctxvec.metrics.geometry`, :mod:`~ctxvec.metrics.heads`
and :mod:`~ctxvec.metrics.scoring`.

Left out: which task reports which score (each task declares its own score names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["example", "pooled", "head", "pair", "score"]
Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Metric:
    """One reported quantity.

    Attributes:
        name: its column name.
        label: how figures and tables name it.
        description: one line on what it measures.
        level: ``example`` (per example, averaged over a subset), ``pooled`` (over a subset's
            vectors), ``head`` (per attention head), ``pair`` (between two models' vectors of a
            subset's examples) or ``score`` (a task score, x100).
        discriminative: which way means more discriminative context vectors; ``None`` for
            scores, references and head statistics.
        per_layer: also measured at every extra layer (``layers``) by the fused kernel; these
            four are also the ``metrics="core"`` set.
        needs_labels: needs class labels (classification only).
        correlated: correlated with the score (a reference value such as the random-token
            baseline is reported but not correlated).
    """

    name: str
    label: str
    description: str
    level: Level
    discriminative: Direction | None = None
    per_layer: bool = False
    needs_labels: bool = False
    correlated: bool = True


def _separability() -> tuple[Metric, ...]:
    kinds = (
        ("fisher_ratio", "Fisher ratio", "between- over within-class scatter"),
        ("silhouette", "silhouette", "cosine silhouette of the classes"),
        ("probe_accuracy", "probe accuracy", "5-fold linear-probe accuracy"),
    )
    poolings = (("summary", "the head's summary token"), ("mean", "the mean of the tokens"))
    return tuple(
        Metric(
            f"{name}_{pooling}",
            f"{label} ({pooling})",
            f"{what} of {whose} per example",
            "pooled",
            "higher",
            needs_labels=True,
        )
        for pooling, whose in poolings
        for name, label, what in kinds
    )


REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        # Per-example metrics over the real tokens of one input (docs/metrics.md).
        Metric(
            "variance",
            "Variance",
            "mean per-dimension variance of the standardised token vectors",
            "example",
            "higher",
            per_layer=True,
        ),
        Metric(
            "cse",
            "CSE",
            "mean squared cosine error (1 - cos)^2 over all token pairs",
            "example",
            "higher",
            per_layer=True,
        ),
        Metric(
            "self_similarity",
            "self-similarity",
            "mean cosine between distinct tokens (anisotropy)",
            "example",
            "lower",
            per_layer=True,
        ),
        Metric(
            "intra_similarity",
            "intra-sentence similarity",
            "mean cosine of each token with the input's mean vector",
            "example",
            "lower",
            per_layer=True,
        ),
        Metric(
            "effective_rank",
            "effective rank",
            "exp of the entropy of the normalised singular values",
            "example",
            "higher",
        ),
        # Pooled over a subset's sampled token vectors.
        Metric(
            "random_baseline",
            "random-token baseline",
            "mean cosine between random tokens of different examples",
            "pooled",
            "lower",
            correlated=False,
        ),
        Metric(
            "isoscore",
            "IsoScore",
            "how evenly the pooled tokens' variance spreads over dimensions",
            "pooled",
            "higher",
        ),
        # Timkey & van Schijndel (2021): how much of the expected cosine a few dimensions carry.
        # A diagnostic of the cosine-based metrics, not a hypothesis about the score: rogue
        # dimensions inflate cosines whether or not the vectors discriminate, so neither
        # direction means "more discriminative", and they are reported beside the random
        # baseline rather than correlated (two more tests with no prediction).
        Metric(
            "rogue_top1",
            "rogue top-1 share",
            "share of the expected cosine between tokens carried by its largest dimension",
            "pooled",
            correlated=False,
        ),
        Metric(
            "rogue_top3",
            "rogue top-3 share",
            "share of the expected cosine between tokens carried by its 3 largest dimensions",
            "pooled",
            correlated=False,
        ),
        Metric(
            "self_similarity_adjusted",
            "self-similarity - random baseline",
            "self-similarity above the random-token baseline",
            "pooled",
            "lower",
        ),
        *_separability(),
        # Per attention head (docs/attention.md).
        Metric(
            "entropy",
            "entropy (nats)",
            "smoothed entropy of the query rows over the keys each sees",
            "head",
        ),
        Metric(
            "uniform_entropy",
            "uniform entropy",
            "entropy of uniform attention: log n, causal the mean of log(i + 1)",
            "head",
            correlated=False,
        ),
        Metric("entropy_ratio", "entropy / uniform", "entropy over its uniform baseline", "head"),
        Metric(
            "mean_distance", "mean distance (tokens)", "attention-weighted mean |i - j|", "head"
        ),
        Metric("special_share", "share on special tokens", "attention to special tokens", "head"),
        Metric(
            "question_to_context",
            "question → context",
            "share of question tokens' attention on the context",
            "head",
        ),
        Metric(
            "context_to_question",
            "context → question",
            "share of context tokens' attention on the question",
            "head",
        ),
        # Between two models' pooled context vectors of a subset (docs/metrics.md).
        Metric("cka", "linear CKA", "linear centred kernel alignment (biased HSIC)", "pair"),
        Metric(
            "cka_unbiased",
            "linear CKA (unbiased)",
            "linear centred kernel alignment (unbiased HSIC)",
            "pair",
        ),
        Metric(
            "mutual_knn",
            "mutual k-NN",
            "share of nearest neighbours the two models have in common",
            "pair",
        ),
        # Task scores, x100.
        Metric("f1", "F1", "token F1 (QA) or positive-class F1 (classification)", "score"),
        Metric("exact", "EM", "exact match", "score"),
        Metric("best_f1", "best-threshold F1", "F1 at the best no-answer threshold", "score"),
        Metric("accuracy", "accuracy", "share of correct labels", "score"),
        Metric("macro_f1", "macro F1", "unweighted mean of per-class F1", "score"),
    )
}


def label(name: str) -> str:
    """The label of a registered name; an unregistered column keeps its own name."""
    metric = REGISTRY.get(name)
    return metric.label if metric is not None else name


def names(
    level: Level, *, per_layer: bool | None = None, correlated: bool | None = None
) -> tuple[str, ...]:
    """The registered names of one level, in declaration order, optionally filtered."""
    return tuple(
        m.name
        for m in REGISTRY.values()
        if m.level == level
        and (per_layer is None or m.per_layer == per_layer)
        and (correlated is None or m.correlated == correlated)
    )


# The groups the pass, the tables and the report use.
LAYER_METRICS = names("example", per_layer=True)
EXAMPLE_METRICS = names("example")
POOLED_METRICS = tuple(
    m.name for m in REGISTRY.values() if m.level == "pooled" and m.correlated and not m.needs_labels
)
# Pooled values reported in subsets.csv but not correlated (the random baseline, rogue shares).
REFERENCE_METRICS = names("pooled", correlated=False)
SEPARABILITY = tuple(m.name for m in REGISTRY.values() if m.needs_labels)
HEAD_STATISTICS = names("head")
SIMILARITY = names("pair")
CORRELATED_HEAD_STATISTICS = names("head", correlated=True)
