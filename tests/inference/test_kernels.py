"""CPU kernels: per-sequence attention equals PyTorch's scaled-dot-product attention, packed
linear layers (with fused GELU) equal ``nn.Linear``, and each is used only where it applies and
undone afterwards; linear subclasses with a forward of their own keep it and are recorded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import FAMILIES

from ctxvec.inference.kernels import (
    NAME,
    _register_attention,
    cpu_kernels,
    packed_linear,
    packing_works,
    per_sequence_attention,
    plain_linear,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def needs_packing(dtype: torch.dtype) -> pytest.MarkDecorator:
    """Skip where this CPU or PyTorch build cannot run packed oneDNN layers of ``dtype``
    (bfloat16 needs AVX-512 BF16 or AMX)."""
    return pytest.mark.skipif(
        not packing_works(dtype),
        reason=f"oneDNN cannot run packed {dtype} linear layers on this CPU",
    )


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


def test_a_causal_call_without_a_mask_stays_causal() -> None:
    """transformers drops the mask of an unpadded decoder batch and leaves causality to SDPA's
    ``is_causal``: the kernel rebuilds it, from the module's attribute or the argument."""
    q, k, v = _qkv(seed=4)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
    module = torch.nn.Module()
    module.is_causal = True
    out, _ = per_sequence_attention(module, q, k, v, None)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-12)
    out, _ = per_sequence_attention(torch.nn.Module(), q, k, v, None, is_causal=True)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-12)


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


def test_bert_forward_with_it_matches_sdpa(tiny_lm) -> None:
    lm = tiny_lm("bert", "qa")
    ids = torch.randint(5, 500, (3, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 2:] = 0
    with torch.inference_mode():
        expected = lm.model(input_ids=ids, attention_mask=mask).start_logits
        _register_attention()
        lm.model.set_attn_implementation(NAME)
        got = lm.model(input_ids=ids, attention_mask=mask).start_logits
        lm.model.set_attn_implementation("sdpa")
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("family", "dtype", "packed", "attention"),
    [
        ("bert", "bfloat16", True, True),
        ("roberta", "float16", False, True),
        ("bert", "float32", True, False),
        ("deberta-v2", "bfloat16", True, False),
        ("xlnet", "float32", True, False),
        ("mpnet", "bfloat16", True, False),  # its attention is its own code, always eager
    ],
)
def test_switches_only_where_it_applies_and_restores(tiny_lm, family, dtype, packed, attention):
    packed = packed and packing_works(DTYPES[dtype])  # never on a CPU that cannot run them
    lm = tiny_lm(family, "qa", dtype)
    before = lm.model.config._attn_implementation
    linears = [m for m in lm.model.modules() if isinstance(m, torch.nn.Linear)]
    with pytest.raises(RuntimeError), cpu_kernels(lm.model) as used:
        assert used == {"packed_linear": packed, "per_sequence_attention": attention}
        assert (lm.model.config._attn_implementation == NAME) is attention
        replaced = [m for m in lm.model.modules() if "forward" in m.__dict__]
        fused = [getattr(m, "dense", None) for m in replaced]
        assert all(m in replaced or m in fused for m in linears) is packed
        raise RuntimeError("a failing pass still restores the model")
    assert lm.model.config._attn_implementation == before
    assert not any("forward" in m.__dict__ for m in lm.model.modules())


@pytest.mark.parametrize(
    "dtype", [torch.float32, pytest.param(torch.bfloat16, marks=needs_packing(torch.bfloat16))]
)
@pytest.mark.parametrize("rows", [1, 7, 300])
def test_packed_linear_matches_nn_linear(dtype, rows) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 96).to(dtype)
    x = torch.randn(2, rows, 48, dtype=dtype)
    exact = torch.nn.functional.linear(x.double(), linear.weight.double(), linear.bias.double())
    tol = 1e-5 if dtype == torch.float32 else 0.05
    with torch.inference_mode():
        plain = packed_linear(linear)(x)
        fused = packed_linear(linear, gelu=True)(x)
    assert plain.shape == (2, rows, 96) and plain.dtype == dtype
    torch.testing.assert_close(plain.double(), exact, rtol=0, atol=tol)
    torch.testing.assert_close(fused.double(), torch.nn.functional.gelu(exact), rtol=0, atol=tol)


@needs_packing(torch.float32)
@pytest.mark.parametrize("family", FAMILIES)
def test_float32_forward_with_packed_kernels_matches_pytorch(tiny_lm, family) -> None:
    lm = tiny_lm(family, "qa")
    ids = torch.randint(5, 500, (2, 12), generator=torch.Generator().manual_seed(0))
    seen = []
    dense = next(m for m in lm.model.modules() if isinstance(m, torch.nn.Linear))
    dense.register_forward_hook(lambda *_: seen.append(1))
    with torch.inference_mode():
        expected = lm.model(input_ids=ids, output_hidden_states=True).hidden_states
        calls = len(seen)
        with cpu_kernels(lm.model):
            got = lm.model(input_ids=ids, output_hidden_states=True).hidden_states
    assert calls > 0 and len(seen) == 2 * calls  # forward hooks still run on a replaced layer
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_bfloat16_padded_batch_matches_each_sequence_alone(tiny_lm) -> None:
    lm = tiny_lm("bert", "qa", "bfloat16")
    ids = torch.randint(5, 500, (3, 12), generator=torch.Generator().manual_seed(0))
    lengths = [12, 7, 2]
    mask = (torch.arange(12) < torch.tensor(lengths)[:, None]).long()
    with torch.inference_mode(), cpu_kernels(lm.model) as used:
        assert used["per_sequence_attention"]
        batch = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        for row, n in enumerate(lengths):
            alone = lm.model(input_ids=ids[row : row + 1, :n], output_hidden_states=True)
            torch.testing.assert_close(
                batch.hidden_states[-1][row, :n].float(),
                alone.hidden_states[-1][0].float(),
                rtol=0,
                atol=0.05,  # a few bfloat16 steps at |h| ~ 4
            )


def test_kernels_off_leaves_the_model_alone(tiny_lm) -> None:
    lm = tiny_lm("bert", "qa", "bfloat16")
    with cpu_kernels(lm.model, enabled=False) as used:
        assert used == {"packed_linear": False, "per_sequence_attention": False}
        assert not any("forward" in m.__dict__ for m in lm.model.modules())
        assert lm.model.config._attn_implementation != NAME


@needs_packing(torch.float32)
def test_packing_is_checked_once_per_dtype_without_touching_the_rng() -> None:
    packing_works.cache_clear()
    state = torch.get_rng_state()
    assert packing_works(torch.float32)
    assert torch.equal(torch.get_rng_state(), state)  # training around a pass stays seeded
    assert packing_works(torch.float32) is packing_works(torch.float32)
    assert packing_works(torch.bfloat16) == torch.ops.mkldnn._is_mkldnn_bf16_supported()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_pass_leaves_torchs_random_state_alone(tiny_lm, dtype) -> None:
    from ctxvec.data import QAExample
    from ctxvec.tasks.qa import QASettings, predict_qa

    lm = tiny_lm("bert", "qa", dtype)
    context = "The survey of 1820 mapped the delta and named the islands."
    examples = [QAExample(f"q{i}", "When was the delta mapped?", context, (), ()) for i in (0, 1)]
    packing_works.cache_clear()
    state = torch.get_rng_state()
    predict_qa(lm, examples, QASettings(max_length=64, stride=16), progress=False)
    assert torch.equal(torch.get_rng_state(), state)


class _Router(torch.nn.Linear):
    """A linear layer with its own forward (as PhiMoE's router): logits and the top expert."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = super().forward(x)
        return logits, logits.argmax(-1)


class _Renamed(torch.nn.Linear):
    """A subclass that keeps ``nn.Linear.forward``: still a plain matrix multiply."""


class _Mixer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.config = type("Config", (), {})()
        self.dense = torch.nn.Linear(8, 8)
        self.renamed = _Renamed(8, 8)
        self.routers = torch.nn.ModuleList([_Router(8, 3), _Router(8, 3)])

    dtype = torch.float32
    device = torch.device("cpu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.renamed(self.dense(x))
        return sum(router(h)[0] for router in self.routers)


@needs_packing(torch.float32)
def test_linear_subclasses_with_their_own_forward_keep_it() -> None:
    torch.manual_seed(0)
    model = _Mixer().eval()
    x = torch.randn(2, 5, 8)
    assert [plain_linear(m) for m in (model.dense, model.renamed, model.routers[0])] == [
        True,
        True,
        False,
    ]
    with torch.inference_mode():
        expected = model(x)
        with cpu_kernels(model) as used:
            replaced = {n for n, m in model.named_modules() if "forward" in m.__dict__}
            got = model(x)
    assert replaced == {"dense", "renamed"}  # the routers were not packed
    assert used == {
        "packed_linear": True,
        "per_sequence_attention": False,
        "skipped_linear": {"_Router": 2},
    }
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    with cpu_kernels(model, enabled=False) as used:
        assert "skipped_linear" not in used  # nothing stepped aside: nothing was packed


def test_phimoe_with_packed_kernels_matches_kernels_off(tmp_path) -> None:
    """PhiMoE's router is an ``nn.Linear`` returning three values; packing it broke the pass
    (``too many values to unpack``)."""
    transformers = pytest.importorskip("transformers")
    if not hasattr(transformers, "PhimoeForSequenceClassification"):
        pytest.skip("this transformers has no PhiMoE")
    from sample_data import TEXTS
    from tiny_models import build_tokenizer

    from ctxvec.inference.forward import PassSettings, run_forward
    from ctxvec.loading import ModelSpec, load_model, resolve_model
    from ctxvec.tasks import get_task

    tokenizer = build_tokenizer("bert")
    config = transformers.PhimoeConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    transformers.PhimoeForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lm = load_model(resolve_model(ModelSpec(str(tmp_path))), get_task("cls").head, "cpu")
    enc = lm.tokenizer(TEXTS, return_special_tokens_mask=True)
    names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
    features = [{n: enc[n][i] for n in names} for i in range(len(TEXTS))]
    out = {
        kernels: run_forward(
            lm, features, get_task("cls").keep, PassSettings(3, kernels=kernels), progress=False
        )
        for kernels in ("auto", "off")
    }
    packed = packing_works(torch.float32)
    assert out["auto"].kernels == {
        "packed_linear": packed,
        "per_sequence_attention": False,
        **({"skipped_linear": {"PhimoeTopKRouter": 2}} if packed else {}),
    }
    torch.testing.assert_close(
        torch.tensor(out["auto"].outputs["logits"]),
        torch.tensor(out["off"].outputs["logits"]),
        rtol=0,
        atol=1e-5,
    )
    for a, b in zip(out["auto"].metrics.values(), out["off"].metrics.values(), strict=True):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=0, atol=1e-5)
