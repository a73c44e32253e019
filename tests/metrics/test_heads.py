"""Per-head attention statistics against hand-worked answers: uniform, one-hot and
previous-token attention, hand-built question/context patterns, and an unbatched per-row loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from ctxvec.errors import CtxvecError
from ctxvec.metrics.heads import (
    CONTEXT,
    QUESTION,
    SPECIAL,
    available_statistics,
    combine_statistics,
    input_statistics,
)


def stats_row(weights: np.ndarray, segment: np.ndarray) -> dict:
    """Statistics of a one-layer, one-head input, as scalars."""
    table = combine_statistics([input_statistics(weights[None, None], segment)])
    return table.iloc[0].to_dict()


def test_uniform_attention_has_uniform_entropy_and_known_distance() -> None:
    n = 7
    segment = np.array([SPECIAL, QUESTION, QUESTION, SPECIAL, CONTEXT, CONTEXT, SPECIAL])
    row = stats_row(np.full((n, n), 1 / n), segment)
    assert row["entropy"] == pytest.approx(math.log(n))
    assert row["uniform_entropy"] == pytest.approx(math.log(n))
    assert row["entropy_ratio"] == pytest.approx(1.0)
    # sum_ij |i - j| = n (n^2 - 1) / 3 over n queries.
    assert row["mean_distance"] == pytest.approx((n * n - 1) / (3 * n))
    assert row["special_share"] == pytest.approx(3 / 7)
    assert row["question_to_context"] == pytest.approx(2 / 7)
    assert row["context_to_question"] == pytest.approx(2 / 7)


def test_one_hot_attention_entropy_is_clark_smoothed_value() -> None:
    n = 5
    weights = np.zeros((n, n))
    weights[:, 2] = 1.0  # every query on token 2
    segment = np.array([SPECIAL, QUESTION, QUESTION, CONTEXT, SPECIAL])
    row = stats_row(weights, segment)
    eps = 1e-4 / n
    peak = 0.9999 + eps
    by_hand = -(peak * math.log(peak) + (n - 1) * eps * math.log(eps))
    assert row["entropy"] == pytest.approx(by_hand, rel=1e-12)
    assert row["entropy"] == pytest.approx(scipy.stats.entropy([peak] + [eps] * (n - 1)))
    assert 0 < row["entropy"] < 0.01  # smoothing keeps log(0) away, nothing more
    assert row["mean_distance"] == pytest.approx((2 + 1 + 0 + 1 + 2) / n)
    assert row["special_share"] == 0.0
    assert row["question_to_context"] == 0.0
    assert row["context_to_question"] == 1.0


def test_previous_token_distance_is_pooled_over_queries_across_inputs() -> None:
    def previous_token(n: int) -> np.ndarray:
        w = np.zeros((n, n))
        w[0, 0] = 1.0
        w[np.arange(1, n), np.arange(n - 1)] = 1.0
        return w

    segment = {n: np.zeros(n, np.int8) for n in (4, 10)}
    per_input = [input_statistics(previous_token(n)[None, None], segment[n]) for n in (4, 10)]
    row = combine_statistics(per_input).iloc[0]
    # Vig & Belinkov: sum of weighted distances over all queries of all inputs (3 + 9) / (4 + 10),
    # not the mean of the per-input ratios (3/4 + 9/10) / 2.
    assert row["mean_distance"] == pytest.approx(12 / 14)
    # Clark et al. average entropy per input.
    entropies = [per_input[i]["entropy"][0, 0] for i in range(2)]
    assert row["entropy"] == pytest.approx(np.mean(entropies))
    assert row["uniform_entropy"] == pytest.approx((math.log(4) + math.log(10)) / 2)
    assert row["n_inputs"] == 2


def test_question_context_shares_by_hand() -> None:
    # [CLS] q q [SEP] c c c [SEP]
    segment = np.array([SPECIAL, QUESTION, QUESTION, SPECIAL, CONTEXT, CONTEXT, CONTEXT, SPECIAL])
    w = np.zeros((8, 8))
    w[1] = [0, 0, 0, 0, 0.5, 0.25, 0, 0.25]  # question token 1: 0.75 to context
    w[2] = [0.5, 0.5, 0, 0, 0, 0, 0, 0]  # question token 2: nothing to context
    w[4:7, 1] = 0.2  # context tokens: 0.2 to question token 1 ...
    w[4:7, 0] = 0.8  # ... and 0.8 to [CLS]
    w[[0, 3, 7], 3] = 1.0  # special tokens on [SEP]
    row = stats_row(w, segment)
    assert row["question_to_context"] == pytest.approx((0.75 + 0) / 2)
    assert row["context_to_question"] == pytest.approx(0.2)
    specials = [1.0, 0.25, 0.5, 1.0, 0.8, 0.8, 0.8, 1.0]  # per query row
    assert row["special_share"] == pytest.approx(np.mean(specials))


def test_statistics_match_an_unbatched_loop() -> None:
    rng = np.random.default_rng(0)
    n = 9
    weights = rng.dirichlet(np.ones(n) * 0.3, size=(2, 3, n))  # [layers, heads, n, n]
    segment = np.array([SPECIAL, 0, 0, 0, SPECIAL, 1, 1, 1, SPECIAL])
    table = combine_statistics([input_statistics(weights, segment)])
    for _, r in table.iterrows():
        a = weights[int(r["layer"]) - 1, int(r["head"]) - 1]
        ent, dist, spec = 0.0, 0.0, 0.0
        for i in range(n):
            p = [0.9999 * a[i, j] + 0.0001 / n for j in range(n)]
            ent += -sum(x * math.log(x) for x in p) / n
            dist += sum(a[i, j] * abs(i - j) for j in range(n)) / n
            spec += sum(a[i, j] for j in range(n) if segment[j] == SPECIAL) / n
        assert r["entropy"] == pytest.approx(ent)
        assert r["mean_distance"] == pytest.approx(dist)
        assert r["special_share"] == pytest.approx(spec)


def test_classification_inputs_have_no_qa_shares() -> None:
    segment = np.array([SPECIAL, 0, 0, SPECIAL])
    table = combine_statistics([input_statistics(np.full((1, 2, 4, 4), 0.25), segment)] * 2)
    assert table["question_to_context"].isna().all()
    assert "question_to_context" not in available_statistics(table)
    assert list(table["layer"]) == [1, 1] and list(table["head"]) == [1, 2]
    with pytest.raises(CtxvecError, match="no inputs"):
        combine_statistics([])


def test_causal_statistics_by_hand_over_the_visible_keys() -> None:
    # [<s>] q c c, causal: query i sees keys 0..i; the eager path gives the others weight 0.
    segment = np.array([SPECIAL, QUESTION, CONTEXT, CONTEXT])
    peaked = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.0, 0.0],
            [0.2, 0.3, 0.5, 0.0],
            [0.1, 0.2, 0.3, 0.4],
        ]
    )
    uniform = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [1 / 2, 1 / 2, 0.0, 0.0],
            [1 / 3, 1 / 3, 1 / 3, 0.0],
            [1 / 4, 1 / 4, 1 / 4, 1 / 4],
        ]
    )
    short = np.array([[1.0, 0.0], [0.5, 0.5]])  # a second, 2-token input: [<s>] q
    per_input = [
        input_statistics(np.stack([peaked, uniform])[None], segment, causal=True),
        input_statistics(np.stack([short, short])[None], np.array([SPECIAL, QUESTION]), True),
    ]
    first = combine_statistics(per_input[:1])
    both = combine_statistics(per_input)

    # Row i mixes in 1e-4 of the uniform distribution over its i + 1 visible keys only.
    row2 = [0.9999 * a + 0.0001 / 3 for a in (0.2, 0.3, 0.5)]
    row3 = [0.9999 * a + 0.0001 / 4 for a in (0.1, 0.2, 0.3, 0.4)]
    h_row2 = -sum(p * math.log(p) for p in row2)
    h_row3 = -sum(p * math.log(p) for p in row3)
    # Row 0 sees one key (p = 1, entropy 0); row 1 is 0.9999 * 0.5 + 0.0001 / 2 = 0.5 twice.
    entropy = (0.0 + math.log(2) + h_row2 + h_row3) / 4
    baseline = (math.log(1) + math.log(2) + math.log(3) + math.log(4)) / 4
    peaked_row, uniform_row = first.iloc[0], first.iloc[1]
    assert peaked_row["entropy"] == pytest.approx(entropy, rel=1e-12)
    assert peaked_row["uniform_entropy"] == pytest.approx(baseline, rel=1e-12)
    assert peaked_row["entropy_ratio"] == pytest.approx(entropy / baseline, rel=1e-12)
    # Sum of a_ij (i - j) over the 4 queries: 0 + 0.5 + (0.4 + 0.3) + (0.3 + 0.4 + 0.3).
    assert peaked_row["mean_distance"] == pytest.approx((0.5 + 0.7 + 1.0) / 4)
    assert peaked_row["special_share"] == pytest.approx((1.0 + 0.5 + 0.2 + 0.1) / 4)
    # The question token sees no context: undefined, not 0; context rows see the question.
    assert math.isnan(peaked_row["question_to_context"])
    assert peaked_row["context_to_question"] == pytest.approx((0.3 + 0.2) / 2)
    # Attention uniform over the visible keys is the baseline itself.
    assert uniform_row["entropy"] == pytest.approx(baseline, rel=1e-12)
    assert uniform_row["entropy_ratio"] == pytest.approx(1.0)

    # Over inputs both are averaged per input, the baseline as the entropy.
    short_entropy = (0.0 + math.log(2)) / 2
    assert both.iloc[0]["entropy"] == pytest.approx((entropy + short_entropy) / 2, rel=1e-12)
    assert both.iloc[0]["uniform_entropy"] == pytest.approx((baseline + math.log(2) / 2) / 2)
    assert both.iloc[0]["mean_distance"] == pytest.approx((2.2 + 0.5) / (4 + 2))
    # The encoder rule smooths over all 4 keys and compares with ln 4: another number.
    encoder = combine_statistics([input_statistics(peaked[None, None], segment)]).iloc[0]
    assert encoder["uniform_entropy"] == pytest.approx(math.log(4))
    assert encoder["entropy"] > entropy + 1e-4


def test_encoder_statistics_are_unchanged_by_the_causal_rule() -> None:
    rng = np.random.default_rng(1)
    n = 8
    weights = rng.dirichlet(np.ones(n) * 0.5, size=(2, 3, n))  # [layers, heads, n, n]
    segment = np.array([SPECIAL, QUESTION, QUESTION, SPECIAL, CONTEXT, CONTEXT, CONTEXT, SPECIAL])
    got = input_statistics(weights, segment)
    assert got.keys() == input_statistics(weights, segment, causal=False).keys()
    for key, value in input_statistics(weights, segment, causal=False).items():
        np.testing.assert_array_equal(got[key], value)
    # The rule before causal models: every row smoothed over all n keys, baseline ln n.
    smooth = weights * 0.9999 + 0.0001 / n
    np.testing.assert_allclose(
        got["entropy"], -(smooth * np.log(smooth)).sum(-1).mean(-1), rtol=1e-13
    )
    assert got["uniform_entropy"] == math.log(n)
    q, c = segment == QUESTION, segment == CONTEXT
    np.testing.assert_allclose(
        got["question_to_context"], weights[..., q, :][..., c].sum(-1).mean(-1)
    )
    np.testing.assert_allclose(
        got["context_to_question"], weights[..., c, :][..., q].sum(-1).mean(-1)
    )
