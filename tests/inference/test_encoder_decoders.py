"""Encoder-decoders (BART, T5) through loading, the forward pass and both tasks, per stack.

The study measures an encoder-decoder's encoder (the default), its decoder, or both stacks at
one layer number (:mod:`ctxvec.loading.stacks`). Each is checked against plain transformers run
one unpadded example at a time on the checkpoint as saved (``encoder_hidden_states``,
``decoder_hidden_states``), with the float64 formulas of ``tests/conftest.py``; the heads build
their decoder inputs themselves (the input shifted right), as in training.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
import transformers
from sample_data import QA_EXAMPLES, TEXTS, reviews
from tiny_models import build_tokenizer

from ctxvec.data import TextDataset, TextExample
from ctxvec.errors import CtxvecError
from ctxvec.inference import forward
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.study import StudyConfig, run_study
from ctxvec.tasks import get_task
from ctxvec.tasks.classify import ClsSettings, predict_cls
from ctxvec.tasks.labels import match_labels
from ctxvec.tasks.qa import QASettings, predict_qa

STACKS = ("encoder", "decoder", "both")
HEADS = {"qa": "AutoModelForQuestionAnswering", "cls": "AutoModelForSequenceClassification"}


def make_t5(task: str, directory, decoder_layers: int = 2) -> str:
    """A tiny random T5 (a stack of each, ``decoder_layers`` deep) with a byte-level BPE
    tokenizer whose eos is ``</s>``; BART is ctxvec's own tiny family (``tiny_model``)."""
    tokenizer = build_tokenizer("roberta")  # <s> <pad> </s> <unk> <mask>
    tokenizer.model_max_length = 128
    config = transformers.T5Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,  # T5's own: the pad token
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=decoder_layers,
        num_heads=2,
    )
    if task == "cls":
        config.id2label = {0: "NEGATIVE", 1: "POSITIVE"}
        config.label2id = {"NEGATIVE": 0, "POSITIVE": 1}
    torch.manual_seed(0)
    getattr(transformers, HEADS[task]).from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_model):
    built: dict[tuple, str] = {}

    def get(kind: str, task: str, decoder_layers: int = 2) -> str:
        if kind == "bart":
            return str(tiny_model("bart", task))
        key = (task, decoder_layers)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"t5-{task}-{decoder_layers}")
            built[key] = make_t5(task, folder, decoder_layers)
        return built[key]

    return get


def load(path: str, task: str):
    return load_model(resolve_model(ModelSpec(path)), get_task(task).head, "cpu", "float32")


def features_of(lm, texts) -> list[dict]:
    enc = lm.tokenizer(list(texts), return_special_tokens_mask=True)
    names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
    return [{n: enc[n][i] for n in names} for i in range(len(texts))]


def plain_states(path: str, task: str, features) -> list[tuple[tuple, tuple, object]]:
    """Per feature, unpadded: (encoder states, decoder states, head output) of plain
    transformers on the checkpoint as saved."""
    model = getattr(transformers, HEADS[task]).from_pretrained(path).eval()
    found = []
    with torch.no_grad():
        for f in features:
            out = model(input_ids=torch.tensor([f["input_ids"]]), output_hidden_states=True)
            enc = tuple(h[0].numpy() for h in out.encoder_hidden_states)
            dec = tuple(h[0].numpy() for h in out.decoder_hidden_states)
            found.append((enc, dec, out))
    return found


def test_an_encoder_decoder_loads_read_at_its_last_eos_padded_on_the_right(checkpoint) -> None:
    for kind in ("bart", "t5"):
        lm = load(checkpoint(kind, "cls"), "cls")
        assert (lm.summary_position, lm.padding_side) == ("last-eos", "right")


# T5 (relative position buckets in every layer) takes four times BART's time: the slow tier.
KINDS = ["bart", pytest.param("t5", marks=pytest.mark.slow)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", ["cls", "qa"])
def test_each_stack_equals_the_unpadded_formula_on_plain_states(
    checkpoint, oracles, monkeypatch, kind: str, task: str
) -> None:
    monkeypatch.setattr(forward, "MAX_PADDING", 1.0)  # pad freely, so that a leak shows
    path = checkpoint(kind, task)
    lm = load(path, task)
    features = features_of(lm, TEXTS[:6])
    assert len({len(f["input_ids"]) for f in features}) > 1
    plain = plain_states(path, task, features)
    keep = get_task(task).keep
    for stack in STACKS:
        for layer in (-1, 1):
            settings = PassSettings(6, layer=layer, stack=stack)
            got = run_forward(lm, features, keep, settings, progress=False)
            alone = run_forward(
                lm, features, keep, dataclasses.replace(settings, batch_size=1), progress=False
            )
            for i, (enc, dec, _) in enumerate(plain):
                h = {"encoder": enc[layer], "decoder": dec[layer]}.get(stack)
                if h is None:
                    h = np.concatenate([enc[layer], dec[layer]])
                assert got.n_tokens[i] == len(h)
                assert got.variance[i] == pytest.approx(oracles.variance(h), abs=1e-5)
                assert got.cse[i] == pytest.approx(oracles.cse(h), abs=1e-5)
            for name in ("variance", "cse"):
                np.testing.assert_allclose(got.metrics[name], alone.metrics[name], atol=1e-6)
    # The head's outputs equal plain transformers' one example at a time.
    got = run_forward(lm, features, keep, PassSettings(6), progress=False)
    if task == "cls":
        want = np.stack([out.logits[0].numpy() for *_, out in plain])
        np.testing.assert_allclose(got.outputs["logits"], want, atol=1e-5)
    else:
        for i, (*_, out) in enumerate(plain):
            np.testing.assert_allclose(
                got.outputs["start_logits"][i], out.start_logits[0], atol=1e-5
            )


@pytest.mark.parametrize("kind", KINDS)
def test_the_summary_vector_is_the_last_eos_in_the_measured_stack(checkpoint, kind) -> None:
    path = checkpoint(kind, "cls")
    lm = load(path, "cls")
    features = features_of(lm, TEXTS[:5])
    plain = plain_states(path, "cls", features)
    eos = lm.model.config.eos_token_id
    for stack in STACKS:
        got = run_forward(
            lm, features, get_task("cls").keep, PassSettings(5, stack=stack), progress=False
        )
        for i, (enc, dec, _) in enumerate(plain):
            column = len(features[i]["input_ids"]) - 1
            assert features[i]["input_ids"][column] == eos
            want = enc[-1][column] if stack == "encoder" else dec[-1][column]
            np.testing.assert_allclose(got.sentence["summary"][i], want, atol=1e-5)


def test_classification_predictions_equal_plain_batches_of_one(checkpoint) -> None:
    path = checkpoint("bart", "cls")
    lm = load(path, "cls")
    examples = [TextExample(str(i), t, i % 2) for i, t in enumerate(TEXTS)]
    labels = match_labels(lm.model.config.id2label, TextDataset(examples, "t", ["neg", "pos"]))
    rows = predict_cls(lm, examples, labels, ClsSettings(batch_size=8), progress=False).rows
    plain = plain_states(path, "cls", features_of(lm, TEXTS))
    want = np.stack([out.logits[0].numpy() for *_, out in plain])
    assert list(rows["prediction"]) == list(want.argmax(1))


def test_qa_answers_are_spans_of_the_context(checkpoint) -> None:
    lm = load(checkpoint("bart", "qa"), "qa")
    for stack in STACKS:
        settings = QASettings(max_length=64, stride=16, batch_size=4, stack=stack)
        rows = predict_qa(lm, QA_EXAMPLES, settings, progress=False).rows
        assert np.isfinite(rows[["variance", "cse", "na_prob"]].to_numpy()).all()
        for text, example in zip(rows["prediction"], QA_EXAMPLES, strict=True):
            assert text == "" or text in example.context


def test_both_stacks_need_equal_depths(checkpoint) -> None:
    lm = load(checkpoint("t5", "cls", decoder_layers=3), "cls")
    features = features_of(lm, TEXTS[:2])
    keep = get_task("cls").keep
    assert run_forward(lm, features, keep, PassSettings(stack="decoder", layer=3), progress=False)
    with pytest.raises(CtxvecError, match="2 encoder and 3 decoder layers") as e:
        run_forward(lm, features, keep, PassSettings(stack="both"), progress=False)
    assert "\n" not in str(e.value)
    with pytest.raises(CtxvecError, match="out of range"):
        run_forward(lm, features, keep, PassSettings(stack="encoder", layer=3), progress=False)


@pytest.mark.slow
def test_a_study_of_an_encoder_decoder_records_its_stack(checkpoint, tmp_path) -> None:
    config = StudyConfig(
        task="cls",
        models=(ModelSpec(checkpoint("bart", "cls"), "bart"),),
        data=str(reviews(tmp_path / "reviews.parquet", ["neg", "pos"] * 8)),
        subsets=2,
        subset_size=8,
        score="accuracy",
        device="cpu",
        figures=(),
    )
    for stack in STACKS:
        settings = ClsSettings(layers="all", stack=stack)
        run = tmp_path / stack
        result = run_study(
            dataclasses.replace(config, settings=settings), run, progress=False, log=lambda *_: None
        )
        assert np.isfinite(result.subsets[["variance", "cse", "fisher_ratio_summary"]]).all().all()
        (model,) = json.loads((run / "manifest.json").read_text())["models"]
        assert (model["stack"], model["n_layers"]) == (stack, 2)
        layers = pd.read_csv(run / "layers.csv")
        assert sorted(layers["layer"].unique()) == [0, 1, 2]
        assert (layers["n_layers"] == 2).all()


def test_the_attention_views_show_the_encoders_self_attention(checkpoint) -> None:
    from ctxvec import attention

    path = checkpoint("bart", "cls")
    lm = attention.load_for_attention(ModelSpec(path), "cls", device="cpu")
    text = TEXTS[0]
    got = attention.attend(lm, text=text)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        path, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        out = model(**lm.tokenizer(text, return_tensors="pt"), output_attentions=True)
    want = torch.cat(out.encoder_attentions).numpy()
    assert not got.causal
    np.testing.assert_allclose(got.weights, want, atol=1e-6)
