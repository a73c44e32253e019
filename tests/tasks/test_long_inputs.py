"""Inputs of 100,000 characters: a context is cut into windows and a review is truncated;
neither runs out of memory."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sample_data import reviews

from ctxvec import ClsSettings, ModelSpec, QASettings, StudyConfig, run_study

WORDS = "The river delta was mapped in 1820 by the survey of the northern islands. "
LONG_TEXT = (WORDS * (100_000 // len(WORDS) + 1))[:100_000]


def study(task: str, data, settings, size: int, tiny_model, out):
    config = StudyConfig(
        figures=(),
        task=task,
        models=(ModelSpec(str(tiny_model("bert", task))),),
        data=str(data),
        subsets=1,
        subset_size=size,
        settings=settings,
    )
    return run_study(config, out, progress=False, log=lambda *_: None).examples


@pytest.mark.slow
def test_a_context_of_100k_characters_is_cut_into_windows(tmp_path, tiny_model) -> None:
    qa = tmp_path / "long.json"
    context = LONG_TEXT + " Paris is the capital of France."
    qas = [{"id": "q", "question": "What is the capital of France?", "answers": [
        {"text": "Paris", "answer_start": context.index("Paris")}]}]  # fmt: skip
    qa.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": qas}]}]}))
    settings = QASettings(max_length=128, stride=32, batch_size=16)
    rows = study("qa", qa, settings, 1, tiny_model, tmp_path / "qa")
    assert rows["n_windows"].iloc[0] > 100


@pytest.mark.slow
def test_a_review_of_100k_characters_is_truncated(tmp_path, tiny_model) -> None:
    cls = reviews(tmp_path / "long.parquet", ["neg", "pos"])
    frame = pd.read_parquet(cls)
    frame.loc[0, "text"] = LONG_TEXT
    frame.to_parquet(cls)
    rows = study("cls", cls, ClsSettings(max_length=128), 2, tiny_model, tmp_path / "cls")
    assert rows["truncated"].sum() == 1
