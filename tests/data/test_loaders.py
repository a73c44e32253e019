"""Dataset loaders: every supported format, validation errors, notes on odd answers."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from sample_data import SHARED_DATA, squad_json

from ctxvec.data import load_qa_dataset, load_text_dataset
from ctxvec.errors import CtxvecError

OFFICIAL = {
    "version": "v2.0",
    "data": [
        {
            "title": "Rivers",
            "paragraphs": [
                {
                    "context": "The Loire flows into the Atlantic at Saint-Nazaire.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Where does the Loire end?",
                            "answers": [{"text": "Saint-Nazaire", "answer_start": 37}],
                            "is_impossible": False,
                        },
                        {
                            "id": "q2",
                            "question": "Who built the Loire?",
                            "answers": [],
                            "plausible_answers": [{"text": "Atlantic", "answer_start": 25}],
                            "is_impossible": True,
                        },
                    ],
                }
            ],
        }
    ],
}


def test_official_squad_json_v2_and_v11(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(OFFICIAL))
    ds = load_qa_dataset(path)
    assert [e.id for e in ds.examples] == ["q1", "q2"]
    q1, q2 = ds.examples
    assert q1.answers == ("Saint-Nazaire",)
    assert q1.context[q1.answer_starts[0] :].startswith("Saint-Nazaire")
    assert q2.answers == ()  # plausible answers are not gold answers
    v11 = {"version": "1.1", "data": OFFICIAL["data"]}
    for qa in v11["data"][0]["paragraphs"][0]["qas"]:
        qa.pop("is_impossible", None)
    path.write_text(json.dumps(v11))
    assert load_qa_dataset(path).fingerprint == ds.fingerprint


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_hub_squad_schema_files(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "title": ["T", "T"],
            "context": ["Paris is in France.", "Nothing here."],
            "question": ["Where is Paris?", "Who?"],
            "answers": [
                {"text": ["France"], "answer_start": [12]},
                {"text": [], "answer_start": []},
            ],
        }
    )
    path = tmp_path / f"squad{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    ds = load_qa_dataset(path)
    assert [e.answers for e in ds.examples] == [("France",), ()]
    assert ds.examples[0].answer_starts == (12,)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": "v2.0"}', "top-level 'data'"),
        ('{"data": [{"paragraphs": [{"qas": []}]}]}', "official SQuAD format"),
    ],
)
def test_malformed_squad_json_is_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CtxvecError, match=message) as info:
        load_qa_dataset(path)
    assert "\n" not in str(info.value)


def test_missing_files_and_columns(tmp_path: Path) -> None:
    with pytest.raises(CtxvecError, match="does not exist"):
        load_qa_dataset(tmp_path / "missing.json")
    with pytest.raises(CtxvecError, match="does not exist"):
        load_text_dataset(tmp_path / "missing.parquet")
    pd.DataFrame({"text": ["x"]}).to_parquet(tmp_path / "nolabel.parquet")
    with pytest.raises(CtxvecError, match=r"lacks column\(s\) \['label'\]"):
        load_text_dataset(tmp_path / "nolabel.parquet")
    pd.DataFrame({"question": ["x"]}).to_parquet(tmp_path / "noctx.parquet")
    with pytest.raises(CtxvecError, match="lacks column"):
        load_qa_dataset(tmp_path / "noctx.parquet")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(CtxvecError, match="cannot read"):
        load_text_dataset(tmp_path / "corrupt.parquet")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_text_tables(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"text": ["good film", "bad, film"], "label": [1, 0]})
    path = tmp_path / f"t{suffix}"
    {
        ".parquet": frame.to_parquet,
        ".csv": lambda p: frame.to_csv(p, index=False),
        ".jsonl": lambda p: frame.to_json(p, orient="records", lines=True),
    }[suffix](path)
    ds = load_text_dataset(path)
    assert [(e.id, e.text, e.label) for e in ds.examples] == [
        ("0", "good film", 1),
        ("1", "bad, film", 0),
    ]


def test_acl_imdb_folder(tmp_path: Path) -> None:
    for label, texts in {"pos": ["great"], "neg": ["awful", "dull"]}.items():
        (tmp_path / "test" / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (tmp_path / "test" / label / f"{i}_1.txt").write_text(t)
    ds = load_text_dataset(tmp_path, split="test")
    assert ds.label_names == ["neg", "pos"]
    assert sorted((e.text, e.label) for e in ds.examples) == [
        ("awful", 0),
        ("dull", 0),
        ("great", 1),
    ]
    with pytest.raises(CtxvecError, match="no pos/ and neg/"):
        load_text_dataset(tmp_path / "test" / "pos")


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared real data not present")
def test_real_squad_and_imdb_files_load() -> None:
    squad = load_qa_dataset(SHARED_DATA / "squad_v2" / "dev-v2.0-cs224n.json")
    assert len(squad) == 6078
    assert sum(1 for e in squad.examples if e.answers) == 2910
    # Every gold answer's offset points at its text in the context.
    bad = [
        e.id
        for e in squad.examples
        for t, s in zip(e.answers, e.answer_starts, strict=True)
        if e.context[s : s + len(t)] != t
    ]
    assert bad == []
    imdb = load_text_dataset(SHARED_DATA / "imdb" / "test.parquet")
    assert len(imdb) == 25000
    assert sorted({e.label for e in imdb.examples}) == [0, 1]


def test_hub_datasets_are_read_through_the_datasets_library(monkeypatch) -> None:
    """The hub path, with ``datasets.load_dataset`` answering from memory in the hub's schema."""
    import datasets

    squad = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "title": ["T", "T"],
            "context": ["Paris is in France.", "Paris is in France."],
            "question": ["Where is Paris?", "Who built Paris?"],
            "answers": [{"text": ["France", "in France"], "answer_start": [12, 9]},
                        {"text": [], "answer_start": []}],
        }
    )  # fmt: skip
    imdb = datasets.Dataset.from_dict(
        {"text": ["great", "awful", "fine"], "label": [1, 0, 1]},
        features=datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
        ),
    )
    calls = []

    def fake_load_dataset(name: str, split: str):
        calls.append((name, split))
        if name == "rajpurkar/squad_v2":
            return squad
        if name == "stanfordnlp/imdb":
            return imdb
        raise FileNotFoundError(f"Dataset '{name}' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    qa = load_qa_dataset("squad_v2", "validation")
    assert calls[-1] == ("rajpurkar/squad_v2", "validation")
    assert qa.examples[0].answers == ("France", "in France")
    assert qa.examples[0].answer_starts == (12, 9)
    assert qa.examples[1].answers == ()
    text = load_text_dataset("imdb", "test")
    assert calls[-1] == ("stanfordnlp/imdb", "test")
    assert text.label_names == ["neg", "pos"]
    assert [e.label for e in text.examples] == [1, 0, 1]
    with pytest.raises(CtxvecError, match="cannot load dataset 'nope/nothing'"):
        load_text_dataset("nope/nothing", "test")


def test_empty_texts_are_refused(tmp_path) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    squad = json.loads(data.read_text())
    squad["data"][0]["paragraphs"][1]["qas"][2]["question"] = "   "
    data.write_text(json.dumps(squad))
    with pytest.raises(CtxvecError, match="question 'c0p1q2' has an empty question"):
        load_qa_dataset(data)
    table = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["good", " ", "bad"], "label": [1, 0, 0]}).to_csv(table, index=False)
    with pytest.raises(CtxvecError, match="the text of example '1' is empty"):
        load_text_dataset(table)


@pytest.fixture
def answers_off_their_start(tmp_path) -> Path:
    """The sample SQuAD file with two answers whose ``answer_start`` is wrong."""
    data = squad_json(tmp_path / "dev.json", copies=1)
    squad = json.loads(data.read_text())
    answers = squad["data"][0]["paragraphs"][0]["qas"][0]["answers"]
    answers[0]["answer_start"] = 10_000  # past the end of its context
    answers[1]["answer_start"] += 1
    data.write_text(json.dumps(squad))
    return data


def test_answers_off_their_start_are_counted_in_one_note(answers_off_their_start) -> None:
    data = answers_off_their_start
    dataset = load_qa_dataset(data)
    assert len(dataset.notes) == 1
    assert dataset.notes[0].startswith(f"2 of 10 answers in {data.resolve()} do not start")
    with pytest.raises(CtxvecError, match=r"2 of 10 answers .* do not start"):
        load_qa_dataset(data, strict=True)


def test_answers_off_their_start_are_counted_in_one_warning(
    answers_off_their_start, tmp_path, tiny_model, run_cli
) -> None:
    data = answers_off_their_start
    args = ["study", "qa", "--data", str(data), "--out", str(tmp_path / "out")]
    args += ["--quiet", "--figures", "none"]
    args += ["--model", str(tiny_model("bert", "qa")), "--subsets", "3", "--subset-size", "3"]
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    lines = stdout.splitlines()
    (first,) = [i for i, line in enumerate(lines) if "warning" in line]
    # Wrapped to 80 columns: continued lines are indented.
    rest = itertools.takewhile(lambda line: line.startswith("  "), lines[first + 1 :])
    warning = " ".join(line.strip() for line in [lines[first], *rest])
    assert warning == f"ctxvec: warning: {load_qa_dataset(data).notes[0]}"
