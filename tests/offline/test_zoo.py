"""The model zoo: training features, checkpoints loadable without ctxvec, reuse, determinism."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from ctxvec.data import load_qa_dataset, load_text_dataset
from ctxvec.offline import progress, synth, training, zoo
from ctxvec.offline.families import (
    ALL_FAMILIES,
    DECODER_FAMILIES,
    ENCODER_DECODER_FAMILIES,
    build_tokenizer,
    model_config,
)
from ctxvec.offline.zoo import Member, ZooSettings
from ctxvec.tasks import get_task
from ctxvec.tasks.windows import training_windows

TINY = ZooSettings(max_length=96, stride=32, vocab_size=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo-data")
    return {
        "qa": synth.write_qa(root / "qa.json", 90, seed=5),
        "cls": synth.write_cls(root / "cls.parquet", 80, seed=5),
    }


# MPNet too: the zoo fine-tunes the real one, whose tokenizer is of the same class. BART has a
# [CLS]-like <s>; decoders, which have none, are tested in tests/inference/test_decoders.py.
@pytest.mark.parametrize("family", [*ALL_FAMILIES, *ENCODER_DECODER_FAMILIES])
def test_qa_training_targets_point_at_the_answer(family, data):
    """Decoding each feature's target tokens through the offsets gives back the gold answer."""
    examples = load_qa_dataset(data["qa"]).examples[:30]
    tokenizer = build_tokenizer(family, [e.context for e in examples], 300, 96)
    # A short window forces answers out of some windows: those target the [CLS] token.
    settings = ZooSettings(max_length=96, stride=32)
    features = training_windows(tokenizer, examples, settings.max_length, settings.stride)
    enc = tokenizer(
        [e.question.lstrip() for e in examples],
        [e.context for e in examples],
        truncation="only_second",
        max_length=96,
        stride=32,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    assert len(features) == len(enc["input_ids"]) > len(examples)
    found = set()
    for i, feature in enumerate(features):
        example = examples[enc["overflow_to_sample_mapping"][i]]
        start, end = feature["start_positions"], feature["end_positions"]
        if feature["input_ids"][start] == tokenizer.cls_token_id:
            assert start == end
            continue
        # The smallest token span holding the answer: it may carry glued punctuation ("1990,")
        # where the tokenizer has no boundary, but its first and last tokens touch the answer.
        offsets = enc["offset_mapping"][i]
        first = example.answer_starts[0]
        last = first + len(example.answers[0])
        assert offsets[start][0] <= first < offsets[start][1]
        assert offsets[end][0] < last <= offsets[end][1]
        found.add(example.id)
    assert found == {e.id for e in examples if e.answers}


def _tiny(family: str, steps=(1, 3)) -> Member:
    return Member(family, family, steps, hidden_size=32, num_heads=2, batch_size=8)


def test_checkpoints_load_with_plain_auto_classes_and_carry_cards(tmp_path, data):
    members = [_tiny("bert"), _tiny("xlnet")]
    checkpoints = zoo.build_zoo("qa", data["qa"], tmp_path, members, settings=TINY, workers=1)
    assert [c.name for c in checkpoints] == [
        "bert-step1",
        "bert-step3",
        "xlnet-step1",
        "xlnet-step3",
    ]
    fingerprint = load_qa_dataset(data["qa"]).fingerprint
    for c in checkpoints:
        card = json.loads((c.path / "card.json").read_text(encoding="utf-8"))
        assert card["family"] in {"bert", "xlnet"} and card["steps"] in {1, 3}
        assert card["seed"] == 0 and card["data"]["fingerprint"] == fingerprint
        assert card["size"]["hidden_size"] == 32
        assert 0 <= card["dev_score"]["value"] <= 100 and card["dev_score"]["metric"] == "f1"
        # Plain transformers, no ctxvec: the head is there and the tokenizer is the family's.
        model, info = AutoModelForQuestionAnswering.from_pretrained(
            c.path, output_loading_info=True
        )
        assert not info["missing_keys"]
        tokenizer = AutoTokenizer.from_pretrained(c.path)
        assert (
            type(tokenizer).__name__
            == {"bert": "BertTokenizer", "xlnet": "XLNetTokenizer"}[card["family"]]
        )
        with torch.no_grad():
            out = model(**tokenizer("Who?", "Ann Lee was born in Paris.", return_tensors="pt"))
        assert torch.isfinite(out.start_logits).all()
    panel = tomllib.loads((tmp_path / "panel.toml").read_text(encoding="utf-8"))
    assert panel["task"] == "qa" and [m["id"] for m in panel["models"]] == [
        c.name for c in checkpoints
    ]
    # Each checkpoint's attributes are its card's scalars; no regulariser, no lambda.
    for entry, c in zip(panel["models"], checkpoints, strict=True):
        assert entry["attributes"] == {
            "family": c.card["family"],
            "kind": "encoder",
            "parameters": c.card["size"]["parameters"],
            "steps": c.card["steps"],
            "seed": 0,
            "learning_rate": 1e-3,
        }


def test_classification_zoo_labels_and_reuse(tmp_path, data):
    members = [_tiny("roberta", (2,))]
    lines: list[str] = []
    first = zoo.build_zoo("cls", data["cls"], tmp_path, members, settings=TINY, log=lines.append)
    model = AutoModelForSequenceClassification.from_pretrained(first[0].path)
    assert model.config.id2label == {0: "LABEL_0", 1: "LABEL_1"}
    assert first[0].card["dev_score"]["metric"] == "accuracy"
    weights = first[0].path / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    lines.clear()
    again = zoo.build_zoo("cls", data["cls"], tmp_path, members, settings=TINY, log=lines.append)
    assert any("reused 1 checkpoint" in line for line in lines)
    assert weights.stat().st_mtime_ns == stamp and again[0].card == first[0].card
    # Another seed is another zoo: retrained.
    lines.clear()
    zoo.build_zoo("cls", data["cls"], tmp_path, members, seed=1, settings=TINY, log=lines.append)
    assert not any("reused" in line for line in lines)


def test_bart_keeps_its_conventions(data):
    """RoBERTa's byte-level BPE and special tokens, one </s> per text (the classification head
    reads the last), each stack of the asked depth, positions as asked (BART offsets them)."""
    texts = [e.context for e in load_qa_dataset(data["qa"]).examples[:30]]
    tokenizer = build_tokenizer("bart", texts, 300, 96)
    assert type(tokenizer).__name__ == "RobertaTokenizer"  # BartTokenizer is its alias
    assert [tokenizer.convert_ids_to_tokens(i) for i in range(5)] == [
        "<s>", "<pad>", "</s>", "<unk>", "<mask>"
    ]  # fmt: skip
    pair = tokenizer.convert_ids_to_tokens(tokenizer("Who", "Ann")["input_ids"])
    assert pair[0] == "<s>" and pair[-1] == "</s>" and pair.count("</s>") == 3
    one = tokenizer(["A film.", "A much longer film review, with more words."])["input_ids"]
    assert [ids.count(tokenizer.eos_token_id) for ids in one] == [1, 1]
    config = model_config(
        "bart", tokenizer, hidden_size=32, num_layers=2, num_heads=2, max_positions=96
    )
    assert config.is_encoder_decoder and config.pad_token_id == tokenizer.pad_token_id == 1
    assert (config.encoder_layers, config.decoder_layers, config.d_model) == (2, 2, 32)
    assert config.decoder_start_token_id == tokenizer.eos_token_id
    assert config.max_position_embeddings == 96


KINDS = {**dict.fromkeys(DECODER_FAMILIES, "decoder"), "bart": "encoder-decoder"}
HEADS = {"qa": AutoModelForQuestionAnswering, "cls": AutoModelForSequenceClassification}


@pytest.mark.slow  # trains eight members
@pytest.mark.parametrize("task", ["qa", "cls"])
def test_decoders_and_bart_train_and_reload(tmp_path, data, task):
    """Decoders and BART train from scratch; their checkpoints hold the pad token and pad id
    their heads need, and reload with plain transformers and batch padded inputs."""
    members = [_tiny(family, (2,)) for family in KINDS]
    checkpoints = zoo.build_zoo(task, data[task], tmp_path, members, settings=TINY, workers=1)
    for c in checkpoints:
        assert c.card["kind"] == KINDS[c.card["family"]]
        assert 0 <= c.card["dev_score"]["value"] <= 100
        model, info = HEADS[task].from_pretrained(c.path, output_loading_info=True)
        assert not info["missing_keys"]
        tokenizer = AutoTokenizer.from_pretrained(c.path)
        # The heads of decoders find the last real token by the config's pad id: the tokenizer
        # must pad with it (gpt2 and llama have no pad token of their own: their eos pads).
        assert model.config.pad_token_id == tokenizer.pad_token_id is not None
        texts = ["Who was born in Paris?", "Ann Lee was born in Paris in 1990, it says."]
        pair = (texts, texts[::-1]) if task == "qa" else (texts,)
        with torch.no_grad():
            out = model(**tokenizer(*pair, padding=True, return_tensors="pt"))
        logits = out.start_logits if task == "qa" else out.logits
        assert logits.shape[0] == 2 and torch.isfinite(logits).all()


def _screen(text: str) -> list[str]:
    """The lines a terminal shows once ``text`` (tqdm's output) is written to it."""
    rows, row, col = [""], 0, 0
    for part in re.split(r"(\r|\n|\x1b\[A)", text):
        if part == "\r":
            col = 0
        elif part == "\n":
            row, col = row + 1, 0
            rows += [""] * (row + 1 - len(rows))
        elif part == "\x1b[A":
            row = max(row - 1, 0)
        else:
            line = rows[row].ljust(col)
            rows[row] = line[:col] + part + line[col + len(part) :]
            col += len(part)
    return [line.rstrip() for line in rows if line.strip()]


def test_a_bar_per_member_in_a_terminal(tmp_path, data, capsys):
    members = [_tiny("bert", (2,)), _tiny("electra", (1, 3))]
    zoo.build_zoo("cls", data["cls"], tmp_path, members, settings=TINY, workers=1, progress=True)
    out, err = capsys.readouterr()
    shown = [line for line in _screen(err) if line.strip()]
    # Each member's bar is left as a line at its last step; nothing else stays on the screen.
    assert len(shown) == 2
    assert shown[0].startswith("  bert   : 100%|") and "| 2/2 [" in shown[0]
    assert shown[1].startswith("  electra: 100%|") and "| 3/3 [" in shown[1]
    assert all(line.endswith("step/s]") and len(line) <= 80 for line in shown)
    assert "| 0/3 [" in err  # drawn when training starts, before the first step
    # The log lines still go to the log.
    assert [line.split(":")[0] for line in out.splitlines()[1:]] == [
        "  bert-step2",
        "  electra-step1",
        "  electra-step3",
    ]


def test_without_a_terminal_progress_is_a_line_now_and_then(tmp_path, data, capsys, monkeypatch):
    monkeypatch.setattr(progress, "PROGRESS_EVERY", 0.0)
    members = [_tiny("roberta", (2, 4))]
    zoo.build_zoo("cls", data["cls"], tmp_path, members, settings=TINY, workers=1)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.split("\n")[:-1]
    assert [line.split(",")[0] for line in lines] == [f"  roberta: step {s}/4" for s in (1, 2, 3)]
    assert all(line.endswith("s left") for line in lines)


@pytest.mark.slow  # two worker processes start and import torch
def test_training_is_deterministic_for_a_seed(tmp_path, data, capsys):
    """Byte-identical weights in a worker process with a bar and in this one without."""
    members = [_tiny("deberta-v2", (3,)), _tiny("albert", (3,))]
    a = zoo.build_zoo(
        "qa", data["qa"], tmp_path / "a", members, settings=TINY, workers=2, progress=True
    )
    # The workers' steps reach the parent's bars, their log lines its log.
    out, err = capsys.readouterr()
    shown = sorted(line for line in _screen(err) if line.strip())
    assert len(shown) == 2
    assert shown[0].startswith("  albert    : 100%|") and "| 3/3 [" in shown[0]
    assert shown[1].startswith("  deberta-v2: 100%|") and "| 3/3 [" in shown[1]
    assert "deberta-v2-step3: dev f1" in out and "albert-step3: dev f1" in out
    b = zoo.build_zoo("qa", data["qa"], tmp_path / "b", members, settings=TINY, workers=1)
    assert not capsys.readouterr().err  # no bar, and too short for a progress line
    for x, y in zip(a, b, strict=True):
        assert (x.path / "model.safetensors").read_bytes() == (
            y.path / "model.safetensors"
        ).read_bytes()
        assert x.card["dev_score"] == y.card["dev_score"]


def test_dev_split_keeps_paragraphs_together(data):
    dataset = load_qa_dataset(data["qa"])
    train, dev = training.split_dev(get_task("qa"), dataset, 0.2, 1000, seed=0)
    assert len(train) + len(dev) == len(dataset)
    assert not {e.context for e in train} & {e.context for e in dev}
    texts = load_text_dataset(data["cls"])
    train, dev = training.split_dev(get_task("cls"), texts, 0.25, 1000, seed=0)
    assert len(dev) == 20 and not {e.id for e in train} & {e.id for e in dev}
