"""The options for causal stacks (:mod:`ctxvec.inference.tokens`): leaving the first tokens out
(attention sinks) and weighting tokens by position (SGPT), against the weighted float64
formulas of ``tests/conftest.py`` on plain transformers' hidden states, one unpadded example at a
time; bidirectional stacks ignore both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sample_data import TEXTS
from tiny_models import DECODER_FAMILIES

from ctxvec.errors import CtxvecError, ParameterError
from ctxvec.inference import forward
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.tasks import get_task


def features_of(lm, texts) -> list[dict]:
    enc = lm.tokenizer(list(texts), return_special_tokens_mask=True)
    names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
    return [{n: enc[n][i] for n in names} for i in range(len(texts))]


def last_states(lm, features) -> list[np.ndarray]:
    """``[n, hidden]`` last-layer states of each feature, unpadded, by plain transformers."""
    with torch.no_grad():
        return [
            lm.model(input_ids=torch.tensor([f["input_ids"]]), output_hidden_states=True)
            .hidden_states[-1][0]
            .double()
            .numpy()
            for f in features
        ]


def sgpt_weights(n: int, skip: int) -> np.ndarray:
    """SGPT's position weights ``t + 1`` of real positions ``skip..n-1``, summing to 1."""
    w = np.arange(skip, n, dtype=np.float64) + 1.0
    return w / w.sum()


@pytest.mark.parametrize("family", DECODER_FAMILIES)
@pytest.mark.parametrize(("skip", "weighting"), [(1, "uniform"), (0, "position"), (2, "position")])
def test_causal_options_equal_the_weighted_formula(
    tiny_lm, oracles, monkeypatch, family: str, skip: int, weighting: str
) -> None:
    monkeypatch.setattr(forward, "MAX_PADDING", 1.0)  # pad freely, so that a leak shows
    lm = tiny_lm(family, "cls")
    features = features_of(lm, TEXTS[:6])
    settings = PassSettings(6, skip_first=skip, token_weighting=weighting)
    got = run_forward(lm, features, get_task("cls").keep, settings, progress=False)
    for i, h in enumerate(last_states(lm, features)):
        kept = h[skip:]
        w = sgpt_weights(len(h), skip) if weighting == "position" else None
        assert got.n_tokens[i] == len(kept)
        assert got.variance[i] == pytest.approx(oracles.variance(kept, w), abs=1e-5)
        assert got.cse[i] == pytest.approx(oracles.cse(kept, w), abs=1e-5)
        mean = kept.mean(0) if w is None else (w[:, None] * kept).sum(0)
        np.testing.assert_allclose(got.sentence["mean"][i], mean, atol=1e-5)
        np.testing.assert_allclose(got.sentence["summary"][i], h[-1], atol=1e-5)  # the head's


def test_position_weighting_changes_the_numbers_and_padding_does_not(tiny_lm) -> None:
    lm = tiny_lm("llama", "cls")
    features = features_of(lm, TEXTS[:6])
    keep = get_task("cls").keep
    weighted = PassSettings(6, token_weighting="position", skip_first=1)
    got = run_forward(lm, features, keep, weighted, progress=False)
    plain = run_forward(lm, features, keep, PassSettings(6), progress=False)
    assert np.abs(got.variance - plain.variance).max() > 1e-3
    alone = run_forward(
        lm,
        features,
        keep,
        PassSettings(1, token_weighting="position", skip_first=1),
        progress=False,
    )
    for name in ("variance", "cse", "self_similarity", "intra_similarity"):
        np.testing.assert_allclose(got.metrics[name], alone.metrics[name], atol=1e-6)


def test_bidirectional_stacks_ignore_the_causal_options(tiny_lm) -> None:
    lm = tiny_lm("bert", "cls")
    features = features_of(lm, TEXTS[:4])
    keep = get_task("cls").keep
    plain = run_forward(lm, features, keep, PassSettings(4), progress=False)
    causal = PassSettings(4, skip_first=2, token_weighting="position")
    got = run_forward(lm, features, keep, causal, progress=False)
    for name in ("variance", "cse"):
        np.testing.assert_array_equal(got.metrics[name], plain.metrics[name])


def test_nothing_left_to_measure_is_one_line(tiny_lm) -> None:
    lm = tiny_lm("gpt2", "cls")
    features = features_of(lm, ["Hi.", TEXTS[0]])
    with pytest.raises(CtxvecError, match="has no token left to measure") as e:
        run_forward(lm, features, get_task("cls").keep, PassSettings(skip_first=50), progress=False)
    assert "\n" not in str(e.value)


def test_bad_values_are_refused_by_parameter_name() -> None:
    with pytest.raises(ParameterError, match="skip_first"):
        PassSettings(skip_first=-1)
    with pytest.raises(ParameterError, match="token_weighting"):
        PassSettings(token_weighting="linear")
    with pytest.raises(ParameterError, match="stack"):
        PassSettings(stack="middle")
