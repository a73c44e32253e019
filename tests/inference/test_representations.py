"""Attention-output context vectors: each captured tensor rebuilds the next hidden state.

The oracle recomputes layer ``l + 1``'s output from the captured attention output and layer
``l``'s hidden states with the layer's own residual, layer norm and feed-forward modules: only
the true pre-residual attention output of that very layer reproduces it.
"""

from __future__ import annotations

import threading

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from ctxvec.errors import CtxvecError
from ctxvec.inference.representations import capture_attention_outputs

TEXT = "Marie Curie discovered polonium in 1898, and radium soon after."


def next_hidden(family: str, layer: torch.nn.Module, attn_out: torch.Tensor, h: torch.Tensor):
    if family == "albert":
        a = layer.attention.LayerNorm(attn_out + h)
        return layer.full_layer_layer_norm(layer.ffn_output(layer.activation(layer.ffn(a))) + a)
    if family == "mpnet":
        a = layer.attention.LayerNorm(attn_out + h)
        return layer.output(layer.intermediate(a), a)
    a = layer.attention.output.LayerNorm(attn_out + h)
    return layer.output(layer.intermediate(a), a)


@pytest.mark.parametrize("family", ["bert", "roberta", "albert", "electra", "deberta-v2", "mpnet"])
def test_captured_outputs_rebuild_the_next_layer(tiny_model, family: str) -> None:
    path = tiny_model(family, "base", num_layers=3)
    model = AutoModel.from_pretrained(path).eval()
    enc = AutoTokenizer.from_pretrained(path)(TEXT, return_tensors="pt")
    with torch.no_grad(), capture_attention_outputs(model) as take:
        hidden = model(**enc, output_hidden_states=True).hidden_states
        captured = take()
        assert len(captured) == 3
        for i, attn_out in enumerate(captured):
            assert attn_out.shape == hidden[i].shape
            if family == "albert":
                layer = model.encoder.albert_layer_groups[0].albert_layers[0]
            else:
                layer = model.encoder.layer[i]
            rebuilt = next_hidden(family, layer, attn_out, hidden[i])
            torch.testing.assert_close(rebuilt, hidden[i + 1], atol=1e-5, rtol=1e-5)
            # The hidden state itself would not do: the capture is not the residual stream.
            assert not torch.allclose(attn_out, hidden[i + 1], atol=1e-3)
        assert take() == []  # taken outputs are forgotten
        model(**enc)
        assert len(take()) == 3
        other = threading.Thread(target=model, kwargs=dict(enc))
        other.start()
        other.join()
        assert take() == []  # another thread's forward is not this thread's
    model(**enc)
    assert take() == []  # hooks are gone after the block


def test_unsupported_family_is_a_clear_error(tiny_model) -> None:
    model = AutoModel.from_pretrained(tiny_model("xlnet", "base"))
    with (
        pytest.raises(CtxvecError, match="not supported for xlnet models"),
        capture_attention_outputs(model),
    ):
        pass
