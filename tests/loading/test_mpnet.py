"""The real all-mpnet-base-v2 weights, loaded as a study loads them: metrics and a small study.

The tiny random MPNet of ``tiny_models`` checks the plumbing; these check what only the real
checkpoint has: 12 layers of trained weights in a sentence-transformers folder with no task head
(its config names ``MPNetForMaskedLM`` but it holds no LM head) and a ``tokenizer.json`` that
pads and truncates every input to 128 tokens unless the caller says otherwise. Each test skips,
saying why, when the weights are absent (``tools/fetch_mpnet.py`` fetches them). Texts are
real IMDB reviews from ``../shared/data`` where present (the shortest ones, to keep each test
within seconds on a CPU), else a few sentences (``sample_data.short_reviews``). The attention
views of the same weights are checked in ``tests/attention/test_mpnet.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from sample_data import short_reviews
from transformers import AutoModel, AutoTokenizer

from ctxvec import ClsSettings, ModelSpec, StudyConfig, run_study
from ctxvec.data import TextDataset
from ctxvec.loading import load_model, resolve_model
from ctxvec.tasks import get_task
from ctxvec.tasks.classify import predict_cls
from ctxvec.tasks.labels import match_labels

NAME = "all-mpnet-base-v2"


def test_batched_padded_metrics_equal_the_unpadded_formula(mpnet_weights, oracles) -> None:
    spec = ModelSpec(str(mpnet_weights), NAME)
    lm = load_model(
        resolve_model(spec), get_task("cls").head, "cpu", "float32", allow_untrained_head=True
    )
    # Only the absent classification head is new: the encoder is the checkpoint's.
    assert lm.initialised and all(name.startswith("classifier.") for name in lm.initialised)
    assert lm.input_names == ("input_ids", "attention_mask") and lm.max_positions == 512
    examples = short_reviews(6)
    texts = [e.text for e in examples]
    # The oracle: the encoder alone, loaded on its own, one unpadded text per forward.
    encoder = AutoModel.from_pretrained(mpnet_weights).eval()
    ids = AutoTokenizer.from_pretrained(mpnet_weights)(texts)["input_ids"]
    assert len({len(x) for x in ids}) > 3  # the batches below really are padded
    want_var, want_cse = [], []
    with torch.inference_mode():
        for x in ids:
            h = encoder(input_ids=torch.tensor([x])).last_hidden_state[0].numpy()
            want_var.append(oracles.variance(h))
            want_cse.append(oracles.cse(h))
    labels = match_labels(lm.model.config.id2label, TextDataset(examples, "t", ["neg", "pos"]))
    # Left padding too: MPNet numbers positions from the pad id, so they must not shift.
    for side, batch_size in (("right", 3), ("right", 6), ("left", 6)):
        sided = dataclasses.replace(lm, padding_side=side)
        settings = ClsSettings(batch_size=batch_size, max_length=128)
        rows = predict_cls(sided, examples, labels, settings, progress=False).rows
        assert list(rows["n_tokens"]) == [len(x) for x in ids]
        np.testing.assert_allclose(rows["variance"], want_var, rtol=0, atol=1e-5)
        np.testing.assert_allclose(rows["cse"], want_cse, rtol=0, atol=1e-5)


def test_small_classification_study_runs_offline(mpnet_weights, tmp_path) -> None:
    examples = short_reviews(16)
    data = tmp_path / "reviews.parquet"
    pd.DataFrame([{"text": e.text, "label": e.label} for e in examples]).to_parquet(data)
    config = StudyConfig(
        figures=(),
        task="cls",
        models=(ModelSpec(str(mpnet_weights), NAME),),
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
    tokenizer = AutoTokenizer.from_pretrained(mpnet_weights)
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
