"""Dataset loaders (every supported format), validation errors, and subset selection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctxvec.data import load_qa_dataset, load_text_dataset, select_subsets
from ctxvec.errors import CtxvecError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

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


def test_subsets_are_seeded_disjoint_and_checked() -> None:
    a = select_subsets(100, 4, 20, seed=3)
    assert [len(s) for s in a] == [20] * 4
    assert len(set(np.concatenate(a).tolist())) == 80
    b = select_subsets(100, 4, 20, seed=3)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    c = select_subsets(100, 4, 20, seed=4)
    assert any((x != y).any() for x, y in zip(a, c, strict=True))
    starts = select_subsets(100, 2, 10, seed=3, starts=(0, 50))
    order = np.random.default_rng(3).permutation(100)
    assert (starts[1] == order[50:60]).all()
    with pytest.raises(CtxvecError, match="need more than the 100 examples"):
        select_subsets(100, 4, 30, seed=0)
    with pytest.raises(CtxvecError, match="overlap"):
        select_subsets(100, 2, 10, seed=0, starts=(0, 5))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared real data not present")
def test_real_squad_and_imdb_files_load() -> None:
    squad = load_qa_dataset(SHARED / "squad_v2" / "dev-v2.0-cs224n.json")
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
    imdb = load_text_dataset(SHARED / "imdb" / "test.parquet")
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
