"""Per-sequence CPU attention equals PyTorch's scaled-dot-product attention, and is used only where
it is faster (reduced precision on a CPU, AttentionInterface families)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ctxvec import ModelSpec, load_model, resolve_model
from ctxvec.cpu_attention import NAME, per_sequence_attention, reduced_precision_attention


def _qkv(batch=3, heads=2, n=9, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, n, dim, generator=g, dtype=torch.float64) for _ in range(3)]


def _key_padding(lengths, n, side):
    keep = torch.zeros(len(lengths), n, dtype=torch.bool)
    for row, length in enumerate(lengths):
        cols = slice(n - length, n) if side == "left" else slice(0, length)
        keep[row, cols] = True
    return keep[:, None, None, :].expand(len(lengths), 1, n, n)


def _sdpa(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2)


@pytest.mark.parametrize("side", ["right", "left"])
def test_key_padding_masks_match_sdpa(side) -> None:
    q, k, v = _qkv()
    mask = _key_padding([9, 5, 1], 9, side)
    out, weights = per_sequence_attention(torch.nn.Module(), q, k, v, mask)
    assert weights is None and out.shape == (3, 9, 2, 4)
    torch.testing.assert_close(out, _sdpa(q, k, v, mask), rtol=0, atol=1e-12)


def test_no_mask_arbitrary_mask_and_scaling_match_sdpa() -> None:
    q, k, v = _qkv(seed=1)
    out, _ = per_sequence_attention(torch.nn.Module(), q, k, v, None)
    torch.testing.assert_close(out, _sdpa(q, k, v, None), rtol=0, atol=1e-12)
    mask = torch.rand(3, 1, 9, 9, generator=torch.Generator().manual_seed(2)) > 0.5
    mask[..., 0] = True  # every query sees at least one key
    mask[1, ..., 3] = False  # a key no query sees
    out, _ = per_sequence_attention(torch.nn.Module(), q, k, v, mask)
    torch.testing.assert_close(out, _sdpa(q, k, v, mask), rtol=0, atol=1e-12)
    out, _ = per_sequence_attention(torch.nn.Module(), q, k, v, None, scaling=0.1)
    expected = F.scaled_dot_product_attention(q, k, v, scale=0.1).transpose(1, 2)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_float_masks_are_left_to_sdpa() -> None:
    q, k, v = (x.float() for x in _qkv(seed=3))
    bias = torch.randn(3, 1, 9, 9)
    out, _ = per_sequence_attention(torch.nn.Module(), q, k, v, bias)
    torch.testing.assert_close(out, _sdpa(q, k, v, bias), rtol=0, atol=1e-6)


def test_bert_forward_with_it_matches_sdpa(tiny_model) -> None:
    lm = load_model(resolve_model(ModelSpec(str(tiny_model("bert", "qa")))), "qa", "cpu")
    ids = torch.randint(5, 500, (3, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 2:] = 0
    with torch.inference_mode():
        expected = lm.model(input_ids=ids, attention_mask=mask).start_logits
        lm.model.set_attn_implementation(NAME)
        got = lm.model(input_ids=ids, attention_mask=mask).start_logits
        lm.model.set_attn_implementation("sdpa")
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("family", "dtype", "expected"),
    [
        ("bert", "bfloat16", True),
        ("roberta", "float16", True),
        ("bert", "float32", False),
        ("deberta-v2", "bfloat16", False),
        ("xlnet", "bfloat16", False),
    ],
)
def test_switches_only_where_faster_and_restores(tiny_model, family, dtype, expected) -> None:
    lm = load_model(resolve_model(ModelSpec(str(tiny_model(family, "qa")))), "qa", "cpu", dtype)
    before = lm.model.config._attn_implementation
    with pytest.raises(RuntimeError), reduced_precision_attention(lm.model) as switched:
        assert switched is expected
        assert (lm.model.config._attn_implementation == NAME) is expected
        raise RuntimeError("a failing pass still restores the model")
    assert lm.model.config._attn_implementation == before


def test_bfloat16_padded_batch_matches_each_sequence_alone(tiny_model) -> None:
    path = str(tiny_model("bert", "qa"))
    lm = load_model(resolve_model(ModelSpec(path)), "qa", "cpu", "bfloat16")
    ids = torch.randint(5, 500, (3, 12), generator=torch.Generator().manual_seed(0))
    lengths = [12, 7, 2]
    mask = (torch.arange(12) < torch.tensor(lengths)[:, None]).long()
    with torch.inference_mode(), reduced_precision_attention(lm.model) as switched:
        assert switched
        batch = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        for row, n in enumerate(lengths):
            alone = lm.model(input_ids=ids[row : row + 1, :n], output_hidden_states=True)
            torch.testing.assert_close(
                batch.hidden_states[-1][row, :n].float(),
                alone.hidden_states[-1][0].float(),
                rtol=0,
                atol=0.05,  # a few bfloat16 steps at |h| ~ 4
            )
