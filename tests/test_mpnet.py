"""The real all-mpnet-base-v2 weights: metrics, a small study and attention views.

The tiny random MPNet of ``tiny_models`` checks the plumbing; these check what only the real
checkpoint has: 12 layers of trained weights in a sentence-transformers folder with no task head
(its config names ``MPNetForMaskedLM`` but it holds no LM head) and a ``tokenizer.json`` that
pads and truncates every input to 128 tokens unless the caller says otherwise. Each test skips,
saying why, when the weights are absent (``tools/fetch_mpnet.py`` fetches them). Texts are
real IMDB reviews from ``../shared/data`` where present (the shortest ones, to keep each test
within seconds on a CPU), else a few sentences.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_DATA
from test_metrics import baseline_cse, baseline_variance
from transformers import AutoModel, AutoTokenizer

from ctxvec import ClsSettings, ModelSpec, StudyConfig, run_study
from ctxvec.attention import attend, load_for_attention
from ctxvec.data import TextDataset, TextExample
from ctxvec.errors import CtxvecError
from ctxvec.loading import load_model, resolve_model
from ctxvec.loading.panels import mpnet_dir
from ctxvec.metrics.heads import CONTEXT, SPECIAL
from ctxvec.tasks import get_task
from ctxvec.tasks.classify import predict_cls
from ctxvec.tasks.labels import match_labels

IMDB_TEST = SHARED_DATA / "imdb" / "test.parquet"
NAME = "all-mpnet-base-v2"

FALLBACK = [
    ("I loved this movie! The acting was superb and the story kept me hooked.", 1),
    ("What a waste of time. The plot was dull, the dialogue was worse, 2/10.", 0),
    ("An absolutely wonderful film -- funny, moving and beautifully shot.", 1),
    ("Terrible!", 0),
    ("Honestly, it's one of the best documentaries I've seen this year.", 1),
    ("I didn't enjoy it; the ending felt rushed and the characters were flat.", 0),
    ("Great.", 1),
    ("The soundtrack is great, but the pacing drags in the second half.", 0),
]


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return mpnet_dir("tests/test_mpnet.py")
    except CtxvecError as e:
        pytest.skip(str(e))


def short_reviews(n: int) -> list[TextExample]:
    """``n`` short labelled texts, half of each label: the shortest of the first 2,000 IMDB test
    reviews of each label, or the fallback sentences (numbered to tell repeats apart)."""
    if IMDB_TEST.is_file():
        # The file is sorted by label: the first reviews of each.
        head = pd.read_parquet(IMDB_TEST, columns=["text", "label"]).groupby("label").head(2000)
        chars = head["text"].str.len()
        picked = head.loc[sorted(
            i for label in (0, 1) for i in chars[head["label"] == label].nsmallest(n // 2).index
        )]  # fmt: skip
        rows = list(zip(picked["text"], picked["label"], strict=True))
    else:
        rows = [(f"{text} ({i})", label) for i, (text, label) in enumerate(FALLBACK * n)][:n]
    return [TextExample(f"r{i}", text, int(label)) for i, (text, label) in enumerate(rows)]


def test_batched_padded_metrics_equal_the_unpadded_formula(weights) -> None:
    spec = ModelSpec(str(weights), NAME)
    lm = load_model(
        resolve_model(spec), get_task("cls").head, "cpu", "float32", allow_untrained_head=True
    )
    # Only the absent classification head is new: the encoder is the checkpoint's.
    assert lm.loading_notes and all("classifier." in note for note in lm.loading_notes)
    assert lm.input_names == ("input_ids", "attention_mask") and lm.max_positions == 512
    examples = short_reviews(6)
    texts = [e.text for e in examples]
    # The oracle: the encoder alone, loaded on its own, one unpadded text per forward.
    encoder = AutoModel.from_pretrained(weights).eval()
    ids = AutoTokenizer.from_pretrained(weights)(texts)["input_ids"]
    assert len({len(x) for x in ids}) > 3  # the batches below really are padded
    want_var, want_cse = [], []
    with torch.inference_mode():
        for x in ids:
            h = encoder(input_ids=torch.tensor([x])).last_hidden_state[0].numpy()
            want_var.append(baseline_variance(h))
            want_cse.append(baseline_cse(h))
    labels = match_labels(lm.model.config.id2label, TextDataset(examples, "t", ["neg", "pos"]))
    # Left padding too: MPNet numbers positions from the pad id, so they must not shift.
    for side, batch_size in (("right", 3), ("right", 6), ("left", 6)):
        sided = dataclasses.replace(lm, padding_side=side)
        settings = ClsSettings(batch_size=batch_size, max_length=128)
        rows = predict_cls(sided, examples, labels, settings, progress=False).rows
        assert list(rows["n_tokens"]) == [len(x) for x in ids]
        np.testing.assert_allclose(rows["variance"], want_var, rtol=0, atol=1e-5)
        np.testing.assert_allclose(rows["cse"], want_cse, rtol=0, atol=1e-5)


def test_small_classification_study_runs_offline(weights, tmp_path) -> None:
    examples = short_reviews(16)
    data = tmp_path / "reviews.parquet"
    pd.DataFrame([{"text": e.text, "label": e.label} for e in examples]).to_parquet(data)
    config = StudyConfig(
        task="cls",
        models=(ModelSpec(str(weights), NAME),),
        data=str(data),
        subsets=2,
        subset_size=8,
        settings=ClsSettings(max_length=128),
        device="cpu",
        dtype="float32",
        allow_untrained_head=True,
    )
    result = run_study(config, tmp_path / "out", progress=False, log=lambda *_: None)
    rows, subsets = result.examples, result.subsets
    assert len(rows) == 16 and list(subsets["n"]) == [8, 8]
    # Every text whole and unpadded: the folder's tokenizer.json pads and cuts to 128 unless told.
    tokenizer = AutoTokenizer.from_pretrained(weights)
    # A parquet file's rows are named by position.
    lengths = {str(i): len(tokenizer(e.text, truncation=True, max_length=128)["input_ids"])
               for i, e in enumerate(examples)}  # fmt: skip
    assert [lengths[i] for i in rows["id"]] == list(rows["n_tokens"])
    assert rows["variance"].between(0, 1).all() and rows["cse"].gt(0).all()
    for k, group in rows.groupby("subset"):
        row = subsets[subsets["subset"] == k].iloc[0]
        assert row["variance"] == pytest.approx(group["variance"].mean())
        assert row["cse"] == pytest.approx(group["cse"].mean())
    assert np.isfinite(subsets[["accuracy", "variance", "cse"]].to_numpy()).all()
    assert [m["name"] for m in result.manifest["models"]] == [NAME]


def test_attention_weights_of_a_text(weights) -> None:
    lm = load_for_attention(ModelSpec(str(weights), NAME), "cls", "cpu", allow_untrained_head=True)
    text = short_reviews(2)[0].text
    attn = attend(lm, text=text)
    n = len(AutoTokenizer.from_pretrained(weights)(text)["input_ids"])
    assert attn.weights.shape == (12, 12, n, n) and len(attn.tokens) == n
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    assert attn.tokens[0] == "<s>" and attn.tokens[-1] == "</s>"
    assert list(np.flatnonzero(attn.segment == SPECIAL)) == [0, n - 1]
    assert attn.prediction in set(lm.model.config.id2label.values())
    table = attn.statistics()
    assert len(table) == 12 * 12 and (table["entropy"] <= table["uniform_entropy"] + 1e-9).all()


def test_attention_weights_of_a_qa_pair(weights) -> None:
    lm = load_for_attention(ModelSpec(str(weights), NAME), "qa", "cpu", allow_untrained_head=True)
    context = "Marie Curie and Pierre Curie discovered polonium in 1898."
    attn = attend(lm, question="Who discovered polonium?", context=context)
    n = len(attn.tokens)
    assert attn.weights.shape == (12, 12, n, n)
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    # <s> question </s></s> context </s>: the double separator is found by the mask, not moved.
    boundary = attn.boundary
    assert attn.tokens[boundary - 2 : boundary] == ["</s>", "</s>"]
    assert list(np.flatnonzero(attn.segment == SPECIAL)) == [0, boundary - 2, boundary - 1, n - 1]
    assert (attn.segment[boundary : n - 1] == CONTEXT).all()
    assert attn.prediction == "" or attn.prediction in context
