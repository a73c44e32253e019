"""Every family through the tasks' predictions: QA rows and answers that do not depend on
batching or padding, long contexts in windows, classification labels and probabilities.

QA metrics are checked against the per-example formulas unpadded (``oracles``), predictions
and probabilities against the model's own logits one example at a time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sample_data import CONTEXT, QA_EXAMPLES, TEXTS
from tiny_models import FAMILIES

from ctxvec.data import QAExample, TextDataset, TextExample
from ctxvec.tasks.classify import ClsSettings, predict_cls
from ctxvec.tasks.labels import match_labels
from ctxvec.tasks.qa import QASettings, encode_qa, predict_qa


@pytest.mark.parametrize("family", FAMILIES)
def test_qa_rows_do_not_depend_on_batching_or_padding(tiny_lm, oracles, family: str) -> None:
    lm = tiny_lm(family, "qa")
    settings = QASettings(max_length=512)
    features, owners, _ = encode_qa(lm, QA_EXAMPLES, settings)
    assert owners == list(range(len(QA_EXAMPLES)))  # one window each
    want_var, want_cse = oracles.unpadded_metrics(lm, features)
    reference = None
    for side in ("left", "right"):
        sided = dataclasses.replace(lm, padding_side=side)
        for batch_size in (1, 4):
            rows = predict_qa(
                sided, QA_EXAMPLES, dataclasses.replace(settings, batch_size=batch_size), False
            ).rows
            np.testing.assert_allclose(rows["variance"], want_var, rtol=0, atol=1e-5)
            np.testing.assert_allclose(rows["cse"], want_cse, rtol=0, atol=1e-5)
            if reference is None:
                reference = rows
            assert list(rows["prediction"]) == list(reference["prediction"])
            np.testing.assert_allclose(rows["na_prob"], reference["na_prob"], atol=1e-4)
    # Answers are cut from the context itself, whatever the tokenizer does to the text.
    for text in reference["prediction"]:
        assert text == "" or text in CONTEXT


@pytest.mark.parametrize("family", FAMILIES)
def test_long_contexts_are_split_into_windows_not_dropped(tiny_lm, family: str) -> None:
    lm = tiny_lm(family, "qa")
    long = QAExample("long", "Who discovered polonium?", " ".join([CONTEXT] * 12), ("Curie",))
    settings = QASettings(max_length=128, stride=32)
    rows = predict_qa(lm, [long, *QA_EXAMPLES[:2]], settings, progress=False).rows
    assert list(rows["id"]) == ["long", "q1", "q2"]
    assert rows.loc[0, "n_windows"] > 1
    assert (rows["n_windows"][1:] == 1).all()
    # Baseline compatibility skips the over-long example instead, and says so.
    compat = predict_qa(
        lm, [long, *QA_EXAMPLES[:2]], dataclasses.replace(settings, baseline_compat=True), False
    )
    assert compat.skipped == ["long"]
    assert list(compat.rows["id"]) == ["q1", "q2"]


@pytest.mark.parametrize("family", FAMILIES)
def test_classification_labels_and_probabilities(tiny_lm, family: str) -> None:
    lm = tiny_lm(family, "cls")
    examples = [TextExample(str(i), t, i % 2) for i, t in enumerate(TEXTS)]
    labels = match_labels(lm.model.config.id2label, TextDataset(examples, "t", ["neg", "pos"]))
    rows = predict_cls(lm, examples, labels, ClsSettings(batch_size=3), progress=False).rows
    with torch.no_grad():
        for i, text in enumerate(TEXTS):
            enc = lm.tokenizer(text, return_tensors="pt")
            inputs = {n: enc[n] for n in lm.input_names if n in enc}
            probs = torch.softmax(lm.model(**inputs).logits[0].double(), -1)
            assert rows.loc[i, "prediction"] == int(probs.argmax())
            assert rows.loc[i, "probability"] == pytest.approx(float(probs.max()), abs=1e-5)
    assert (rows["correct"] == (rows["label"] == rows["prediction"])).all()


def test_models_shorter_than_the_window_keep_its_proportions(tiny_lm) -> None:
    # 128 positions: the default 384/128 windows become 128/42 instead of failing on the stride.
    lm = tiny_lm("bert", "qa", max_positions=128)
    long = QAExample("long", "Who discovered polonium?", " ".join([CONTEXT] * 6), ("Curie",))
    rows = predict_qa(lm, [long], QASettings(), progress=False).rows
    assert rows.loc[0, "n_windows"] > 1
