"""Attention statistics over a subset of a data file: the mean of the chosen examples' own
statistics, with the inputs too long for the model listed, not measured; a decoder's over the
keys each query sees."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ctxvec.attention import attend, load_for_attention, subset_statistics
from ctxvec.data import select_subsets
from ctxvec.metrics.heads import combine_statistics, input_statistics
from ctxvec.tasks import load_dataset

QUESTION_TEXT = "Who discovered polonium?"
CONTEXT_TEXT = "Marie Curie and Pierre Curie discovered it in 1898."


def test_subset_statistics_average_the_chosen_examples_and_list_long_ones(
    tiny_model, tmp_path
) -> None:
    long_context = " ".join([CONTEXT_TEXT] * 6)
    qas = [
        {"id": f"q{i}", "question": QUESTION_TEXT, "answers": [], "is_impossible": True}
        for i in range(6)
    ]
    paragraphs = [
        {"context": CONTEXT_TEXT if i % 2 else long_context, "qas": [qas[i]]} for i in range(6)
    ]
    data = tmp_path / "squad.json"
    data.write_text(
        json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]})
    )
    lm = load_for_attention(str(tiny_model("bert", "qa", max_positions=40)), "qa", device="cpu")
    result = subset_statistics(lm, str(data), size=4, seed=3)
    (chosen,) = select_subsets(6, 1, 4, 3)
    ids = [f"q{i}" for i in chosen]
    assert result.used and result.skipped  # the seed picks both kinds
    assert sorted(result.used + result.skipped) == sorted(ids)
    assert result.skipped == [i for i in ids if int(i[1:]) % 2 == 0]
    expected = combine_statistics(
        [
            input_statistics(a.weights, a.segment)
            for a in [attend(lm, question=QUESTION_TEXT, context=CONTEXT_TEXT)] * len(result.used)
        ]
    )
    pd.testing.assert_frame_equal(result.table, expected)
    assert (result.table["n_inputs"] == len(result.used)).all()


def test_subset_statistics_of_a_decoder_are_over_the_visible_keys(tiny_model, tmp_path) -> None:
    # The path a study's --attention-stats shares (ctxvec.tasks.heads.head_inputs).
    texts = ["I loved this movie!", "It was a dull film, sadly.", "Great acting."]
    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": texts, "label": [1, 0, 1]}).to_csv(data, index=False)
    lm = load_for_attention(str(tiny_model("gpt2", "cls")), "cls", device="cpu")
    assert lm.causal
    result = subset_statistics(lm, str(data), size=3, seed=0)
    text_of = {e.id: e.text for e in load_dataset("cls", str(data)).examples}
    attns = [attend(lm, text=text_of[i]) for i in result.used]
    assert len(attns) == 3 and all(a.causal for a in attns)
    pd.testing.assert_frame_equal(
        result.table,
        combine_statistics([input_statistics(a.weights, a.segment, causal=True) for a in attns]),
    )
    baseline = np.mean([np.log(np.arange(1, len(a.tokens) + 1)).mean() for a in attns])
    assert result.table["uniform_entropy"].iloc[0] == pytest.approx(baseline)
