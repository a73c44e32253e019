"""CPU streams: batches run in parallel single-threaded workers give the one-stream results; a
model that changes itself in forward (BigBird) is detected and runs in one stream."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch

from ctxvec.data import QAExample
from ctxvec.inference.streams import thread_unsafe
from ctxvec.tasks import get_task
from ctxvec.tasks.qa import QASettings, encode_qa, predict_qa

CONTEXT = (
    "The river flows north through three cities before it reaches the sea; its delta was "
    "mapped in 1820 by a survey that also named the islands after local families."
)
EXAMPLES = [
    QAExample(f"q{i}", q, CONTEXT, ("1820",) if i % 2 else (), ())
    for i, q in enumerate(
        [
            "When was the delta mapped?",
            "Where does the river flow?",
            "Who named the islands?",
            "How many cities does it pass?",
            "What reaches the sea?",
            "Which way does it flow before the delta?",
        ]
    )
]


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("family", ["bert", "xlnet"])
def test_streams_match_one_stream_and_restore_threads(tiny_lm, family, threads) -> None:
    lm = tiny_lm(family, "qa")
    settings = QASettings(batch_size=2, max_length=64, stride=16)
    torch.set_num_threads(1)
    one = predict_qa(lm, EXAMPLES, settings, progress=False).rows
    seen: set[int] = set()
    hook = lm.model.register_forward_hook(lambda *_: seen.add(threading.get_ident()))
    try:
        torch.set_num_threads(2)
        two = predict_qa(lm, EXAMPLES, settings, progress=False).rows
    finally:
        hook.remove()
    assert torch.get_num_threads() == 2
    assert len(seen) == 2  # three batches really ran in two workers
    assert threading.get_ident() not in seen
    assert list(one["prediction"]) == list(two["prediction"])
    for column in ("variance", "cse", "na_prob"):
        np.testing.assert_allclose(two[column], one[column], rtol=0, atol=1e-6)


def test_qa_logits_are_cut_to_each_feature(tiny_lm, threads) -> None:
    from ctxvec.inference.forward import PassSettings, run_forward

    lm = tiny_lm("bert", "qa")
    features, _, _ = encode_qa(lm, EXAMPLES, QASettings(max_length=64, stride=16))
    torch.set_num_threads(2)
    out = run_forward(lm, features, get_task("qa").keep, PassSettings(batch_size=4), progress=False)
    with torch.inference_mode():
        for f, start in zip(features, out.outputs["start_logits"], strict=True):
            inputs = {n: torch.tensor([f[n]]) for n in lm.input_names if n != "attention_mask"}
            want = lm.model(**inputs).start_logits[0].numpy()
            assert start.shape == want.shape
            np.testing.assert_allclose(start, want, rtol=0, atol=1e-5)


def test_an_error_in_a_stream_surfaces_and_threads_are_restored(tiny_lm, threads) -> None:
    lm = tiny_lm("bert", "qa")
    calls = []

    def fail_on_second(*_) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")

    hook = lm.model.register_forward_pre_hook(fail_on_second)
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            predict_qa(
                lm, EXAMPLES, QASettings(batch_size=1, max_length=64, stride=16), progress=False
            )
    finally:
        hook.remove()
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("seed", range(5))
def test_length_buckets_bound_padding_and_size(seed: int) -> None:
    from ctxvec.inference.batching import length_sorted_batches

    lengths = np.random.default_rng(seed).integers(1, 400, size=300).tolist()
    batches = length_sorted_batches(lengths, 16, max_padding=0.05)
    bound = 1 - 0.05
    assert sorted(i for b in batches for i in b) == list(range(300))
    widths = [max(lengths[i] for i in b) for b in batches]
    assert widths == sorted(widths, reverse=True)  # longest first
    for b, width in zip(batches, widths, strict=True):
        assert len(b) <= 16
        assert all(lengths[i] >= bound * width for i in b)
    # Merging any two neighbouring batches would break the size cap or the padding bound.
    for a, b in itertools.pairwise(batches):
        assert len(a) == 16 or lengths[b[0]] < bound * lengths[a[0]]


class _Safe(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.config = type("Config", (), {"problem_type": None})()
        self.scale = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.config.problem_type = "regression"  # below an attribute: not counted
        cache = {}
        cache["x"] = x  # a local, not the module
        return self._scaled(x)

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class _Caches(_Safe):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.table[x.shape[0]] = x
        return x


class _Switches(_Safe):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < 4:
            self.set_mode("full")
        return x

    def set_mode(self, mode: str) -> None:
        self._apply_mode(mode)

    def _apply_mode(self, mode: str) -> None:
        for key, value in {"mode": mode}.items():
            setattr(self, key, value)


def _tiny_big_bird(task: str = "qa", **overrides):
    from transformers import BigBirdConfig, BigBirdForQuestionAnswering, BigBirdModel

    config = dict(
        vocab_size=200,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        attention_type="block_sparse",
        block_size=4,
        num_random_blocks=1,
        pad_token_id=0,
    )
    cls = BigBirdForQuestionAnswering if task == "qa" else BigBirdModel
    return cls(BigBirdConfig(**{**config, **overrides})).eval()


def test_thread_safety_rule_reads_what_forward_writes(tiny_lm) -> None:
    from transformers import BigBirdPegasusConfig, BigBirdPegasusForQuestionAnswering

    bert = tiny_lm("bert", "qa").model
    assert thread_unsafe(bert) is None
    assert thread_unsafe(_Safe()) is None
    assert thread_unsafe(_Caches()) == "_Caches.forward writes self.table[...]"
    assert thread_unsafe(_Switches()) == "_Switches.forward writes self.<setattr> (in _apply_mode)"
    want = "BigBirdModel.forward writes self.attention_type (in set_attention_type)"
    assert thread_unsafe(_tiny_big_bird()) == want
    pegasus = BigBirdPegasusConfig(
        vocab_size=200,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=128,
        block_size=4,
        num_random_blocks=1,
    )
    reason = thread_unsafe(BigBirdPegasusForQuestionAnswering(pegasus))
    assert reason is not None and "attention_type" in reason
    # Even where the source cannot be read, BigBird is named by its model type.
    bert.config.model_type = "big_bird"
    assert thread_unsafe(bert) == "big_bird changes itself in forward (set_attention_type)"


def test_big_bird_runs_in_one_stream_and_says_so(tmp_path, threads) -> None:
    """BigBird switches itself to full attention on a short batch: two streams sharing it raced
    (``Query sided sequence length must be multiple of block size``); it runs in one."""
    from tiny_models import build_tokenizer

    from ctxvec.loading import ModelSpec, load_model, resolve_model

    tokenizer = build_tokenizer("bert")
    torch.manual_seed(0)
    _tiny_big_bird(vocab_size=len(tokenizer), type_vocab_size=2).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lm = load_model(resolve_model(ModelSpec(str(tmp_path))), get_task("qa").head, "cpu")
    # Long windows (> 28 tokens: block-sparse) and short ones (full attention), mixed.
    examples = [
        QAExample(e.id, e.question, e.context if i % 2 else "A short one.", e.answers, ())
        for i, e in enumerate(EXAMPLES[:4])
    ]
    seen: set[int] = set()
    lm.model.register_forward_hook(lambda *_: seen.add(threading.get_ident()))
    torch.set_num_threads(2)
    out = predict_qa(lm, examples, QASettings(batch_size=3, max_length=64, stride=16), False)
    assert seen == {threading.get_ident()}  # every batch ran here, one after another
    assert lm.model.bert.attention_type == "original_full"  # it did switch, and stays so
    assert out.kernels["streams"] == 1
    assert out.kernels["streams_reason"] == (
        "BigBirdModel.forward writes self.attention_type (in set_attention_type)"
    )
    assert len(out.rows) == len(examples) and torch.get_num_threads() == 2
