"""CPU streams: batches run in parallel single-threaded workers give the one-stream results."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch

from ctxvec.data import QAExample
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
