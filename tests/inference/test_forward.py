"""Every family through the forward pass: batched, padded metrics equal the per-example
formulas unpadded.

For each family's tiny checkpoint, encoders and decoders (GPT-2, Llama, Qwen2: causal attention,
no pad token of their own), the oracle runs the model on one example at a time (no padding) and
applies the baseline's numpy formulas (``oracles``); ctxvec's batched pass must agree to 1e-5
for any batch size, either padding side and any order of the examples, at every layer and for
either representation, and a padded batch must agree with batches of one to 1e-6.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch
from sample_data import TEXTS
from tiny_models import DECODER_FAMILIES, FAMILIES

from ctxvec.errors import CtxvecError
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.tasks import get_task


@pytest.fixture(scope="module", params=[*FAMILIES, *DECODER_FAMILIES])
def family(request) -> str:
    return request.param


def text_features(lm) -> list[dict]:
    enc = lm.tokenizer(TEXTS, return_special_tokens_mask=True)
    names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
    return [{n: enc[n][i] for n in names} for i in range(len(TEXTS))]


def test_batched_metrics_equal_unpadded_formula(tiny_lm, oracles, family: str) -> None:
    lm = tiny_lm(family, "cls")
    features = text_features(lm)
    lengths = {len(f["input_ids"]) for f in features}
    assert len(lengths) > 3  # the batches really are padded
    want_var, want_cse = oracles.unpadded_metrics(lm, features)
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


# Llama's <s> is its one special token; GPT-2 and Qwen2 add none.
@pytest.mark.parametrize("family", [*FAMILIES, "llama"])
def test_exclude_special_tokens_drops_exactly_the_special_positions(
    tiny_lm, oracles, family
) -> None:
    lm = tiny_lm(family, "cls")
    features = text_features(lm)[1:3]
    settings = PassSettings(batch_size=2, exclude_special_tokens=True)
    got = run_forward(lm, features, get_task("cls").keep, settings, progress=False)
    with torch.no_grad():
        for i, f in enumerate(features):
            inputs = {n: torch.tensor([f[n]]) for n in lm.input_names if n != "attention_mask"}
            h = lm.model(**inputs, output_hidden_states=True).hidden_states[-1][0].numpy()
            keep = ~np.array(f["special_tokens_mask"], bool)
            assert got.n_tokens[i] == keep.sum() < len(keep)
            assert got.variance[i] == pytest.approx(oracles.variance(h[keep]), abs=1e-5)
            assert got.cse[i] == pytest.approx(oracles.cse(h[keep]), abs=1e-5)


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


def test_every_layer_and_every_metric_equal_the_unpadded_formulas(tiny_lm, oracles, family) -> None:
    lm = tiny_lm(family, "cls")
    features = text_features(lm)
    states = unpadded_states(lm, features)
    got = run_forward(
        lm, features, get_task("cls").keep, PassSettings(batch_size=3, layers="all"), progress=False
    )
    assert got.layers == (0, 1, 2)
    for i, per_layer in enumerate(states):
        for k, layer in enumerate(got.layers):
            h = per_layer[layer]
            self_sim, intra, _ = oracles.geometry(h)
            assert got.layer_metrics["variance"][i, k] == pytest.approx(
                oracles.variance(h), abs=1e-5
            )
            assert got.layer_metrics["cse"][i, k] == pytest.approx(oracles.cse(h), abs=1e-5)
            assert got.layer_metrics["self_similarity"][i, k] == pytest.approx(self_sim, abs=1e-5)
            assert got.layer_metrics["intra_similarity"][i, k] == pytest.approx(intra, abs=1e-5)
        self_sim, intra, rank = oracles.geometry(per_layer[-1])
        assert got.metrics["self_similarity"][i] == pytest.approx(self_sim, abs=1e-5)
        assert got.metrics["intra_similarity"][i] == pytest.approx(intra, abs=1e-5)
        assert got.metrics["effective_rank"][i] == pytest.approx(rank, abs=1e-4)
    # Sentence vectors: the token the head summarises (the last for XLNet and the decoders, the
    # first for the other encoders) and the token mean.
    for i, per_layer in enumerate(states):
        h = per_layer[-1]
        summary = h[-1] if family in ("xlnet", *DECODER_FAMILIES) else h[0]
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
def test_attention_output_representation(tiny_lm, oracles, family: str) -> None:
    lm = tiny_lm(family, "cls")
    features = text_features(lm)
    states = unpadded_states(lm, features, "attention-output")
    settings = PassSettings(batch_size=2, layer=1, layers="all", representation="attention-output")
    got = run_forward(lm, features, get_task("cls").keep, settings, progress=False)
    assert got.layers == (1, 2)
    for i, per_layer in enumerate(states):
        assert got.variance[i] == pytest.approx(oracles.variance(per_layer[1]), abs=1e-5)
        assert got.layer_metrics["cse"][i, 1] == pytest.approx(oracles.cse(per_layer[2]), abs=1e-5)
    with pytest.raises(CtxvecError, match="layer 0 is out of range"):
        run_forward(
            lm,
            features,
            get_task("cls").keep,
            PassSettings(layer=0, representation="attention-output"),
        )


def test_wider_padding_changes_nothing(tiny_lm, family: str) -> None:
    """GPU batches pad widths up to a multiple of 64: the extra padding must not matter."""
    from ctxvec.inference.batching import collate

    lm = tiny_lm(family, "cls")
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


def test_a_padded_batch_equals_batches_of_one(tiny_lm, family: str) -> None:
    """Mixed lengths padded into one batch against one unpadded feature per forward: every
    metric, the sentence vectors and the logits agree to 1e-6. Decoders on either side (their
    heads find the last real token by its id); encoders on their own side (their heads read a
    fixed position: the first, XLNet's the last)."""
    lm = tiny_lm(family, "cls")
    features = text_features(lm)
    keep = get_task("cls").keep
    alone = run_forward(lm, features, keep, PassSettings(1), progress=False)  # batches of one
    for side in ("left", "right") if family in DECODER_FAMILIES else (lm.padding_side,):
        sided = dataclasses.replace(lm, padding_side=side)
        got = run_forward(sided, features, keep, PassSettings(len(features)), progress=False)
        for name, values in got.metrics.items():
            np.testing.assert_allclose(values, alone.metrics[name], rtol=0, atol=1e-6, err_msg=name)
        for name, vectors in got.sentence.items():
            np.testing.assert_allclose(vectors, alone.sentence[name], rtol=0, atol=1e-6)
        np.testing.assert_allclose(
            got.outputs["logits"], alone.outputs["logits"], rtol=0, atol=1e-6
        )
