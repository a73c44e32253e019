"""``standardise``: the cosine metrics on per-dimension z-scored vectors, against transformers.

The oracle runs each input alone through the model (``output_hidden_states``, no padding),
estimates each layer's per-dimension mean and population standard deviation over every token of
the reference inputs in float64, standardises, and applies the documented formulas
(``oracles``); Variance and the effective rank stay on the raw vectors.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sample_data import TEXTS

from ctxvec.errors import CtxvecError
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.tasks import get_task

KEEP = get_task("cls").keep


def features_of(lm, texts) -> list[dict]:
    enc = lm.tokenizer(list(texts), return_special_tokens_mask=True)
    names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
    return [{n: enc[n][i] for n in names} for i in range(len(texts))]


def layer_states(lm, features) -> list[list[np.ndarray]]:
    """Per feature, its ``[n_tokens, hidden]`` float64 states at every layer, run alone."""
    names = [n for n in lm.input_names if n != "attention_mask"]
    with torch.no_grad():
        return [
            [
                h[0].double().numpy()
                for h in lm.model(
                    **{n: torch.tensor([f[n]]) for n in names}, output_hidden_states=True
                ).hidden_states
            ]
            for f in features
        ]


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_standardised_metrics_equal_the_oracle(tiny_lm, oracles, family: str) -> None:
    lm = tiny_lm(family, "cls")
    features = features_of(lm, TEXTS[:6])
    reference = features_of(lm, TEXTS[3:])  # overlapping the measured inputs, as a study may
    states, reference_states = layer_states(lm, features), layer_states(lm, reference)
    n_layers = len(states[0])
    scale = []
    for layer in range(n_layers):
        tokens = np.concatenate([s[layer] for s in reference_states])
        scale.append((tokens.mean(0), tokens.std(0)))
    for side in ("left", "right"):
        sided = dataclasses.replace(lm, padding_side=side)
        for batch_size in (1, 4):
            settings = PassSettings(batch_size, layers="all", standardise=True)
            got = run_forward(sided, features, KEEP, settings, progress=False, reference=reference)
            np.testing.assert_allclose(got.standard, np.stack(scale[-1]), rtol=1e-5, atol=1e-5)
            for i, per_layer in enumerate(states):
                for k, layer in enumerate(got.layers):
                    h = per_layer[layer]
                    z = (h - scale[layer][0]) / scale[layer][1]
                    self_sim, intra, _ = oracles.geometry(z)
                    row = {name: v[i, k] for name, v in got.layer_metrics.items()}
                    assert row["variance"] == pytest.approx(oracles.variance(h), abs=1e-5)
                    assert row["cse"] == pytest.approx(oracles.cse(z), abs=1e-5)
                    assert row["self_similarity"] == pytest.approx(self_sim, abs=1e-5)
                    assert row["intra_similarity"] == pytest.approx(intra, abs=1e-5)
                z = (per_layer[-1] - scale[-1][0]) / scale[-1][1]
                assert got.metrics["cse"][i] == pytest.approx(oracles.cse(z), abs=1e-5)
                # The effective rank stays on the raw vectors.
                rank = oracles.geometry(per_layer[-1])[2]
                assert got.metrics["effective_rank"][i] == pytest.approx(rank, abs=1e-4)


def test_off_the_reference_changes_nothing(tiny_lm) -> None:
    lm = tiny_lm("bert", "cls")
    features = features_of(lm, TEXTS[:5])
    plain = run_forward(lm, features, KEEP, PassSettings(3), progress=False)
    given = run_forward(
        lm, features, KEEP, PassSettings(3), progress=False, reference=features_of(lm, TEXTS)
    )
    assert given.standard is None
    for name, values in plain.metrics.items():
        np.testing.assert_array_equal(given.metrics[name], values)


def test_standardise_without_a_reference_is_one_line(tiny_lm) -> None:
    lm = tiny_lm("bert", "cls")
    with pytest.raises(CtxvecError, match="reference sample"):
        run_forward(
            lm, features_of(lm, TEXTS[:2]), KEEP, PassSettings(standardise=True), progress=False
        )
