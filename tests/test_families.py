"""Every family end to end: batched, padded metrics equal the per-example formula unpadded.

For each family's tiny checkpoint, the oracle runs the model on one example at a time (no
padding) and applies the baseline's numpy formulas to the last layer; ctxvec's batched pass must
agree to 1e-5 for any batch size, either padding side and any order of the examples. QA
predictions and ``na_prob`` must not depend on batching either.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch
from test_geometry import per_example_oracles
from test_metrics import baseline_cse, baseline_variance
from tiny_models import FAMILIES

from ctxvec.data import QAExample, TextDataset, TextExample
from ctxvec.errors import CtxvecError
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.tasks import get_task
from ctxvec.tasks.classify import ClsSettings, predict_cls
from ctxvec.tasks.labels import match_labels
from ctxvec.tasks.qa import QASettings, encode_qa, predict_qa

TEXTS = [
    "Great.",
    "I loved this movie! The acting was superb and the story kept me hooked.",
    "What a waste of time. The plot was dull, the dialogue was worse, 2/10.",
    "It was okay... nothing special, yet not bad either.",
    "The soundtrack is great, but the pacing drags in the second half, and the ending felt "
    "rushed; still, fans of the original series won't be disappointed by this sequel at all.",
    "Terrible!",
    "Honestly, it's one of the best documentaries I've seen this year.",
]

CONTEXT = (
    "Marie Curie won the Nobel Prize in Physics in 1903, and in Chemistry in 1911. "
    "She and Pierre Curie discovered polonium in 1898."
)
QUESTIONS = [
    ("q1", "Who discovered polonium?", ("Marie Curie",)),
    ("q2", "When did she win the prize in Chemistry?", ("1911",)),
    ("q3", "What is the capital of France?", ()),
    ("q4", "Which prize?", ("Nobel Prize",)),
    ("q5", "In which year was polonium discovered by the Curies?", ("1898",)),
]
QA_EXAMPLES = [QAExample(i, q, CONTEXT, a, ()) for i, q, a in QUESTIONS]


def unpadded_metrics(lm, features) -> tuple[np.ndarray, np.ndarray]:
    """The oracle: one example per forward, no padding, numpy formulas in float64."""
    variances, cses = [], []
    with torch.no_grad():
        for f in features:
            inputs = {n: torch.tensor([f[n]]) for n in lm.input_names if n != "attention_mask"}
            out = lm.model(**inputs, output_hidden_states=True)
            h = out.hidden_states[-1][0].numpy()
            variances.append(baseline_variance(h))
            cses.append(baseline_cse(h))
    return np.array(variances), np.array(cses)


@pytest.fixture(scope="module", params=FAMILIES)
def family(request) -> str:
    return request.param


def load(tiny_model, family: str, task: str):
    return load_model(
        resolve_model(ModelSpec(str(tiny_model(family, task)))), get_task(task).head, "cpu"
    )


def text_features(lm) -> list[dict]:
    enc = lm.tokenizer(TEXTS, return_special_tokens_mask=True)
    names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
    return [{n: enc[n][i] for n in names} for i in range(len(TEXTS))]


def test_batched_metrics_equal_unpadded_formula(tiny_model, family: str) -> None:
    lm = load(tiny_model, family, "cls")
    features = text_features(lm)
    lengths = {len(f["input_ids"]) for f in features}
    assert len(lengths) > 3  # the batches really are padded
    want_var, want_cse = unpadded_metrics(lm, features)
    order = np.random.default_rng(0).permutation(len(features))
    for side in ("left", "right"):
        sided = dataclasses.replace(lm, padding_side=side)
        for batch_size in (1, 3, len(features)):
            for perm in (np.arange(len(features)), order):
                got = run_forward(
                    sided,
                    [features[i] for i in perm],
                    get_task("cls").keep,
                    PassSettings(batch_size),
                    progress=False,
                )
                np.testing.assert_allclose(got.variance, want_var[perm], rtol=0, atol=1e-5)
                np.testing.assert_allclose(got.cse, want_cse[perm], rtol=0, atol=1e-5)
                assert list(got.n_tokens) == [len(features[i]["input_ids"]) for i in perm]


def test_exclude_special_tokens_drops_exactly_the_special_positions(tiny_model, family) -> None:
    lm = load(tiny_model, family, "cls")
    features = text_features(lm)[1:3]
    settings = PassSettings(batch_size=2, exclude_special_tokens=True)
    got = run_forward(lm, features, get_task("cls").keep, settings, progress=False)
    with torch.no_grad():
        for i, f in enumerate(features):
            inputs = {n: torch.tensor([f[n]]) for n in lm.input_names if n != "attention_mask"}
            h = lm.model(**inputs, output_hidden_states=True).hidden_states[-1][0].numpy()
            keep = ~np.array(f["special_tokens_mask"], bool)
            assert got.n_tokens[i] == keep.sum() < len(keep)
            assert got.variance[i] == pytest.approx(baseline_variance(h[keep]), abs=1e-5)
            assert got.cse[i] == pytest.approx(baseline_cse(h[keep]), abs=1e-5)


def test_qa_rows_do_not_depend_on_batching_or_padding(tiny_model, family: str) -> None:
    lm = load(tiny_model, family, "qa")
    settings = QASettings(max_length=512)
    features, owners, _ = encode_qa(lm, QA_EXAMPLES, settings)
    assert owners == list(range(len(QA_EXAMPLES)))  # one window each
    want_var, want_cse = unpadded_metrics(lm, features)
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


def test_long_contexts_are_split_into_windows_not_dropped(tiny_model, family: str) -> None:
    lm = load(tiny_model, family, "qa")
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


def test_classification_labels_and_probabilities(tiny_model, family: str) -> None:
    lm = load(tiny_model, family, "cls")
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


def unpadded_states(lm, features, representation: str = "hidden") -> list[list[np.ndarray]]:
    """Per feature, the ``[n, d]`` matrices of every layer, one unpadded forward each."""
    from ctxvec.inference.representations import capture_attention_outputs

    states = []
    hidden = representation == "hidden"
    capture = contextlib.nullcontext() if hidden else capture_attention_outputs(lm.model)
    with torch.no_grad(), capture as take:
        for f in features:
            inputs = {n: torch.tensor([f[n]]) for n in lm.input_names if n != "attention_mask"}
            out = lm.model(**inputs, output_hidden_states=True)
            layers = out.hidden_states if hidden else [None, *take()]
            states.append([None if h is None else h[0].numpy() for h in layers])
    return states


def test_every_layer_and_every_metric_equal_the_unpadded_formulas(tiny_model, family) -> None:
    lm = load(tiny_model, family, "cls")
    features = text_features(lm)
    states = unpadded_states(lm, features)
    got = run_forward(
        lm, features, get_task("cls").keep, PassSettings(batch_size=3, layers="all"), progress=False
    )
    assert got.layers == (0, 1, 2)
    for i, per_layer in enumerate(states):
        for k, layer in enumerate(got.layers):
            h = per_layer[layer]
            self_sim, intra, _ = per_example_oracles(h)
            assert got.layer_metrics["variance"][i, k] == pytest.approx(
                baseline_variance(h), abs=1e-5
            )
            assert got.layer_metrics["cse"][i, k] == pytest.approx(baseline_cse(h), abs=1e-5)
            assert got.layer_metrics["self_similarity"][i, k] == pytest.approx(self_sim, abs=1e-5)
            assert got.layer_metrics["intra_similarity"][i, k] == pytest.approx(intra, abs=1e-5)
        self_sim, intra, rank = per_example_oracles(per_layer[-1])
        assert got.metrics["self_similarity"][i] == pytest.approx(self_sim, abs=1e-5)
        assert got.metrics["intra_similarity"][i] == pytest.approx(intra, abs=1e-5)
        assert got.metrics["effective_rank"][i] == pytest.approx(rank, abs=1e-4)
    # Sentence vectors: the token the head summarises (last for XLNet) and the token mean.
    for i, per_layer in enumerate(states):
        h = per_layer[-1]
        summary = h[-1] if family == "xlnet" else h[0]
        np.testing.assert_allclose(got.sentence["summary"][i], summary, atol=1e-5)
        np.testing.assert_allclose(got.sentence["mean"][i], h.mean(0), atol=1e-5)
    # The token sample is seeded per feature: batching does not change it.
    again = run_forward(
        lm, features, get_task("cls").keep, PassSettings(len(features)), progress=False
    )
    order = np.lexsort((np.arange(len(got.token_feature)), got.token_feature))
    order_again = np.lexsort((np.arange(len(again.token_feature)), again.token_feature))
    np.testing.assert_array_equal(got.token_feature[order], again.token_feature[order_again])
    np.testing.assert_allclose(got.tokens[order], again.tokens[order_again], atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "deberta-v2", "mpnet"])
def test_attention_output_representation(tiny_model, family: str) -> None:
    lm = load(tiny_model, family, "cls")
    features = text_features(lm)
    states = unpadded_states(lm, features, "attention-output")
    settings = PassSettings(batch_size=2, layer=1, layers="all", representation="attention-output")
    got = run_forward(lm, features, get_task("cls").keep, settings, progress=False)
    assert got.layers == (1, 2)
    for i, per_layer in enumerate(states):
        assert got.variance[i] == pytest.approx(baseline_variance(per_layer[1]), abs=1e-5)
        assert got.layer_metrics["cse"][i, 1] == pytest.approx(baseline_cse(per_layer[2]), abs=1e-5)
    with pytest.raises(CtxvecError, match="layer 0 is out of range"):
        run_forward(
            lm,
            features,
            get_task("cls").keep,
            PassSettings(layer=0, representation="attention-output"),
        )


def test_wider_padding_changes_nothing(tiny_model, family: str) -> None:
    """GPU batches pad widths up to a multiple of 64: the extra padding must not matter."""
    from ctxvec.inference.batching import collate

    lm = load(tiny_model, family, "cls")
    features = text_features(lm)[:3]
    pads = {"input_ids": lm.tokenizer.pad_token_id, "token_type_ids": 0}
    results = []
    for multiple in (1, 64):
        inputs, _ = collate(features, lm.input_names, pads, lm.padding_side, multiple)
        assert inputs["input_ids"].shape[1] % multiple == 0
        with torch.no_grad():
            logits = lm.model(**inputs).logits
        results.append(logits)
    torch.testing.assert_close(results[0], results[1], atol=1e-5, rtol=1e-5)


def test_models_shorter_than_the_window_keep_its_proportions(tiny_model) -> None:
    # 128 positions: the default 384/128 windows become 128/42 instead of failing on the stride.
    lm = load_model(
        resolve_model(ModelSpec(str(tiny_model("bert", "qa", max_positions=128)))),
        get_task("qa").head,
        "cpu",
    )
    long = QAExample("long", "Who discovered polonium?", " ".join([CONTEXT] * 6), ("Curie",))
    rows = predict_qa(lm, [long], QASettings(), progress=False).rows
    assert rows.loc[0, "n_windows"] > 1
