"""Decoders (GPT-2, Llama, Qwen2) through loading, the forward pass and both tasks.

Their tiny checkpoints keep what real ones have: GPT-2 and Llama tokenizers without a pad token
(Llama prepends ``<s>``), a Qwen2 tokenizer that pads with its eos while its config has no pad
id, causal attention, and classification heads that read the last real token (transformers:
the rightmost token whose id is not ``config.pad_token_id``). Predictions are checked against
plain transformers run one example at a time on the checkpoint as saved.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from sample_data import CONTEXT, QA_EXAMPLES, TEXTS, reviews, squad_json
from tiny_models import DECODER_FAMILIES
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ctxvec.data import QAExample, TextDataset, TextExample
from ctxvec.errors import CtxvecError
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.loading import ModelSpec
from ctxvec.loading.decoders import pad_token_fallback
from ctxvec.study import StudyConfig, run_study
from ctxvec.tasks import get_task
from ctxvec.tasks.classify import ClsSettings, predict_cls
from ctxvec.tasks.labels import match_labels
from ctxvec.tasks.qa import QASettings, predict_qa
from ctxvec.tasks.windows import training_windows


def features_of(lm, texts: list[str]) -> list[dict]:
    enc = lm.tokenizer(texts, return_special_tokens_mask=True)
    names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
    return [{n: enc[n][i] for n in names} for i in range(len(texts))]


def test_the_families_keep_their_conventions(tiny_lm) -> None:
    gpt2, llama, qwen2 = (tiny_lm(family, "cls") for family in DECODER_FAMILIES)
    for lm in (gpt2, llama, qwen2):
        assert lm.summary_position == "last-non-pad"
        assert lm.padding_side == "right"  # real tokens never see padding, positions unshifted
        assert lm.model.config.pad_token_id == lm.tokenizer.pad_token_id
    # No pad token: the eos pads, and the config gets its id (recorded).
    assert gpt2.tokenizer.pad_token == gpt2.tokenizer.eos_token == "<|endoftext|>"
    assert gpt2.pad_fallback == "pad = eos '<|endoftext|>' (id 0); config pad_token_id = 0"
    assert llama.pad_fallback == "pad = eos '</s>' (id 2); config pad_token_id = 2"
    assert llama.tokenizer("Hello")["input_ids"][0] == llama.tokenizer.bos_token_id
    # A pad token of its own, but none in the config, which the head needs.
    assert qwen2.tokenizer.pad_token == "<|endoftext|>"
    assert qwen2.pad_fallback == "config pad_token_id = 0"
    # Encoders are left as they are.
    bert = tiny_lm("bert", "cls")
    assert (bert.summary_position, bert.pad_fallback) == ("first", None)
    assert tiny_lm("xlnet", "cls").summary_position == "last"


class _Tokenizer:
    """What pad_token_fallback uses of a tokenizer: special tokens and their ids."""

    def __init__(self, eos: str | None, unk: str | None) -> None:
        self.vocab = {"<unk>": 0, "</s>": 1, "<pad>": 2, "a": 3}
        self.eos_token, self.unk_token, self.pad_token = eos, unk, None

    @property
    def pad_token_id(self) -> int | None:
        return None if self.pad_token is None else self.vocab[self.pad_token]

    def convert_ids_to_tokens(self, i: int) -> str:
        return {v: k for k, v in self.vocab.items()}[i]


class _Config:
    def __init__(self, pad_token_id: int | None = None) -> None:
        self.pad_token_id = pad_token_id


def test_the_pad_fallback_prefers_the_configs_pad_then_eos_then_unk() -> None:
    tok, config = _Tokenizer("</s>", "<unk>"), _Config(2)
    assert pad_token_fallback(tok, config, head_reads_pad_id=True) == "pad = config '<pad>' (id 2)"
    tok, config = _Tokenizer(None, "<unk>"), _Config()
    assert pad_token_fallback(tok, config, head_reads_pad_id=False) == "pad = unk '<unk>' (id 0)"
    assert config.pad_token_id is None  # an encoder's head does not read it
    with pytest.raises(CtxvecError, match="no pad, eos or unk token"):
        pad_token_fallback(_Tokenizer(None, None), _Config(), head_reads_pad_id=True, name="m")
    # A decoder whose tokenizer pads with another id than its head skips: the head's id wins.
    tok, config = _Tokenizer("</s>", "<unk>"), _Config(2)
    tok.pad_token = "a"
    assert pad_token_fallback(tok, config, head_reads_pad_id=True).endswith(
        "not the tokenizer's 'a'"
    )
    assert tok.pad_token_id == config.pad_token_id == 2


def plain_batch_of_one(path, texts: list[str]) -> np.ndarray:
    """Logits of plain transformers on the checkpoint as saved, one unpadded text per forward."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    assert model.config.pad_token_id is None  # batches of one need none: the head reads the last
    with torch.no_grad():
        return np.stack(
            [model(**tokenizer(t, return_tensors="pt")).logits[0].numpy() for t in texts]
        )


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_classification_predictions_equal_plain_batches_of_one(
    tiny_model, tiny_lm, family: str, side: str
) -> None:
    want = plain_batch_of_one(tiny_model(family, "cls"), TEXTS)
    lm = dataclasses.replace(tiny_lm(family, "cls"), padding_side=side)
    examples = [TextExample(str(i), t, i % 2) for i, t in enumerate(TEXTS)]
    labels = match_labels(lm.model.config.id2label, TextDataset(examples, "t", ["neg", "pos"]))
    rows = predict_cls(lm, examples, labels, ClsSettings(batch_size=len(TEXTS)), progress=False)
    probs = torch.softmax(torch.from_numpy(want).double(), -1).numpy()
    assert list(rows.rows["prediction"]) == list(want.argmax(1))
    np.testing.assert_allclose(rows.rows["probability"], probs.max(1), rtol=0, atol=1e-6)
    got = run_forward(lm, features_of(lm, TEXTS), get_task("cls").keep, progress=False)
    np.testing.assert_allclose(got.outputs["logits"], want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_the_summary_vector_is_the_last_real_token(tiny_lm, family: str) -> None:
    lm = tiny_lm(family, "cls")
    features = features_of(lm, TEXTS)
    with torch.no_grad():
        states = [
            lm.model(input_ids=torch.tensor([f["input_ids"]]), output_hidden_states=True)
            .hidden_states[-1][0]
            .numpy()
            for f in features
        ]
    for side in ("left", "right"):
        sided = dataclasses.replace(lm, padding_side=side)
        got = run_forward(sided, features, get_task("cls").keep, PassSettings(3), progress=False)
        for i, h in enumerate(states):
            np.testing.assert_allclose(got.sentence["summary"][i], h[-1], atol=1e-5)
    # Distinct texts, distinct summaries (Llama's first token, <s>, is the same in every one).
    assert len(np.unique(got.sentence["summary"].round(5), axis=0)) == len(TEXTS)


def test_a_trailing_pad_id_is_skipped_as_the_head_skips_it(tiny_lm) -> None:
    """Pad = eos: a text ending in a literal eos is read, by the head and the summary, at the
    token before it (transformers' rule, documented in docs/metrics.md)."""
    lm = tiny_lm("gpt2", "cls")
    eos = lm.tokenizer.eos_token
    features = features_of(lm, [f"Great.{eos}", "Great.", TEXTS[1]])
    assert features[0]["input_ids"][-1] == lm.tokenizer.pad_token_id
    got = run_forward(lm, features, get_task("cls").keep, PassSettings(3), progress=False)
    np.testing.assert_allclose(got.sentence["summary"][0], got.sentence["summary"][1], atol=1e-5)
    np.testing.assert_allclose(got.outputs["logits"][0], got.outputs["logits"][1], atol=1e-5)
    assert got.n_tokens[0] == got.n_tokens[1] + 1  # measured over every real token


@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_qa_windows_and_answers_with_a_decoder(tiny_lm, family: str) -> None:
    lm = tiny_lm(family, "qa")
    long = QAExample("long", "Who discovered polonium?", " ".join([CONTEXT] * 6), ("Curie",))
    settings = QASettings(max_length=64, stride=16, batch_size=4)
    rows = predict_qa(lm, [long, *QA_EXAMPLES], settings, progress=False).rows
    assert rows.loc[0, "n_windows"] > 1
    assert np.isfinite(rows[["variance", "cse", "na_prob"]].to_numpy()).all()
    for text in rows["prediction"]:
        assert text == "" or text in long.context
    # Padding side and batch size change nothing.
    again = predict_qa(
        dataclasses.replace(lm, padding_side="left"),
        [long, *QA_EXAMPLES],
        dataclasses.replace(settings, batch_size=1),
        progress=False,
    ).rows
    assert list(again["prediction"]) == list(rows["prediction"])
    np.testing.assert_allclose(again["variance"], rows["variance"], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_decoder_studies_run_and_record_the_pad_fallback(tiny_model, tmp_path) -> None:
    """A classification study of two decoders (no summary metric infinite on distinct texts)
    and a QA one, end to end; the manifest records each model's pad fallback."""
    decoders = ("gpt2", "llama")
    cls = StudyConfig(
        task="cls",
        models=tuple(ModelSpec(str(tiny_model(f, "cls")), f) for f in decoders),
        data=str(reviews(tmp_path / "reviews.parquet", ["neg", "pos"] * 8)),
        subsets=2,
        subset_size=8,
        score="accuracy",
        device="cpu",
        figures=(),
    )
    result = run_study(cls, tmp_path / "cls", progress=False, log=lambda *_: None)
    summary = [c for c in result.subsets.columns if c.endswith("_summary")]
    assert summary and np.isfinite(result.subsets[summary].to_numpy()).all()
    assert (result.subsets["silhouette_summary"] != 0).all()
    manifest = json.loads((tmp_path / "cls" / "manifest.json").read_text())
    assert [m["pad_fallback"] for m in manifest["models"]] == [
        "pad = eos '<|endoftext|>' (id 0); config pad_token_id = 0",
        "pad = eos '</s>' (id 2); config pad_token_id = 2",
    ]
    qa = dataclasses.replace(
        cls,
        task="qa",
        models=tuple(ModelSpec(str(tiny_model(f, "qa")), f) for f in decoders),
        data=str(squad_json(tmp_path / "dev.json", copies=1)),
        subset_size=3,
        score="f1",
    )
    result = run_study(qa, tmp_path / "qa", progress=False, log=lambda *_: None)
    assert isinstance(result.examples, pd.DataFrame) and len(result.examples) == 12
    assert np.isfinite(result.subsets[["f1", "variance", "cse"]].to_numpy()).all()


@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_training_windows_without_a_cls_token(tiny_lm, family: str) -> None:
    """The zoo's targets for a decoder: the answer's tokens, or position 0 (no [CLS] token)."""
    tokenizer = tiny_lm(family, "qa").tokenizer
    context = " ".join([CONTEXT] * 4)
    start = context.index("1911")
    example = QAExample(
        "q", "When did she win the prize in Chemistry?", context, ("1911",), (start,)
    )
    features = training_windows(tokenizer, [example], 48, 16)
    assert len(features) > 2
    answered = [f for f in features if f["start_positions"] > 0]
    assert 0 < len(answered) < len(features)
    for f in answered:
        span = f["input_ids"][f["start_positions"] : f["end_positions"] + 1]
        assert tokenizer.decode(span).strip().startswith("1911")  # maybe "1911." glued


@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_answerable_only_training_leaves_out_every_no_answer_window(tiny_lm, family) -> None:
    """The zoo's ``unanswerable=False`` for a decoder: no window whose target is position 0,
    the no-answer position of a model without a [CLS] token."""
    tokenizer = tiny_lm(family, "qa").tokenizer
    context = " ".join([CONTEXT] * 4)
    start = context.index("1911")
    answered = QAExample("a", "When did she win the prize?", context, ("1911",), (start,))
    unanswerable = QAExample("u", "Who won the prize in 1950?", CONTEXT)
    examples = [answered, unanswerable]
    dataset = None  # QA's training features do not read the dataset
    everything = get_task("qa").training_features(tokenizer, examples, dataset, 48, 16)
    kept = get_task("qa").training_features(
        tokenizer, examples, dataset, 48, 16, unanswerable=False
    )
    assert any(f["start_positions"] == 0 for f in everything)
    assert kept and all(f["start_positions"] > 0 for f in kept)
