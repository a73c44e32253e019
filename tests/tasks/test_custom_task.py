"""A third task added from outside ``src/``: text regression, registered and studied whole.

The task here predicts a number from a text with a one-output sequence head and scores it by
R^2 (x100). It is written against the task contract only (:class:`ctxvec.tasks.Task`), as a user
would add one: its settings, data, encoding, prediction, scores and columns live in this module.
The study runs it end to end through the Python API, sharded, and its numbers are checked
against scikit-learn and an unsharded run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_squared_error, r2_score

from ctxvec import ModelSpec, StudyConfig, register_task, run_study
from ctxvec.data import fingerprint
from ctxvec.errors import ParameterError
from ctxvec.inference.forward import Keep, PassSettings, run_forward
from ctxvec.inference.summaries import PooledSample, example_metrics
from ctxvec.loading import Head, LoadedModel
from ctxvec.metrics.stats import put_estimate
from ctxvec.tasks import Predictions, Reading, Task
from ctxvec.tasks.heads import EncodedInput, forward_attentions
from ctxvec.tasks.registry import get_task


@dataclass(frozen=True)
class NumberExample:
    id: str
    text: str
    target: float


@dataclass
class NumberDataset:
    examples: list[NumberExample]
    source: str
    fingerprint: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.fingerprint = self.fingerprint or fingerprint(
            [(e.id, e.text, e.target) for e in self.examples]
        )

    def __len__(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class RegressionSettings(PassSettings):
    max_length: int = 64
    baseline_compat: bool = False
    extra: tuple[str, ...] = field(default=())


def _encode(lm: LoadedModel, texts: Sequence[str], limit: int) -> list[dict[str, Any]]:
    enc = lm.tokenizer(
        list(texts), truncation=True, max_length=limit, return_special_tokens_mask=True
    )
    names = [n for n in lm.input_names if n != "attention_mask"]
    return [
        {**{n: enc[n][i] for n in names}, "special_tokens_mask": enc["special_tokens_mask"][i]}
        for i in range(len(texts))
    ]


class RegressionTask(Task):
    name = "toy-regression"
    title = "Text regression"
    description = "text regression (R^2 x 100)"
    settings_type = RegressionSettings
    head = Head("AutoModelForSequenceClassification", "sequence-classification")
    keep = Keep(per_feature=("logits",))
    default_split = "test"
    default_subsets = (2, 6)
    scores = ("r2",)
    columns = ("r2", "mse")
    input_fields = ("text",)

    def load_data(self, source: str, split: str, strict: bool = False) -> NumberDataset:
        lines = Path(source).read_text().splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        examples = [NumberExample(str(r["id"]), r["text"], float(r["target"])) for r in rows]
        return NumberDataset(examples, source)

    def predict(
        self,
        lm: LoadedModel,
        dataset: NumberDataset,
        settings: RegressionSettings,
        progress: bool = True,
        first_example: int = 0,
    ) -> Predictions:
        examples = dataset.examples
        features = _encode(lm, [e.text for e in examples], settings.max_length)
        keys = [(first_example + i, 0) for i in range(len(examples))]
        out = run_forward(lm, features, self.keep, settings, progress=progress, seeds=keys)
        rows = [
            {
                "id": e.id,
                "target": e.target,
                "prediction": float(out.outputs["logits"][i, 0]),
                "n_tokens": int(out.n_tokens[i]),
                **example_metrics(out, [i]),
            }
            for i, e in enumerate(examples)
        ]
        sample = PooledSample.of_pass(out, keys) if rows else None
        return Predictions(pd.DataFrame(rows), [], sample, out.layers, out.kernels)

    def subset_scores(
        self, rows: pd.DataFrame, settings: RegressionSettings, state: Mapping[str, Any]
    ) -> dict[str, float]:
        return {
            "r2": 100.0 * r2_score(rows["target"], rows["prediction"]),
            "mse": float(mean_squared_error(rows["target"], rows["prediction"])),
        }

    def model_scores(self, rows: pd.DataFrame, state: Mapping[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        put_estimate(out, "mse", (rows["target"] - rows["prediction"]) ** 2)
        return out

    def encode_one(
        self, lm: LoadedModel, example: NumberExample, limit: int, truncate: bool = False
    ) -> EncodedInput:
        feature = _encode(lm, [example.text], limit)[0]
        return EncodedInput(feature, np.zeros(len(feature["input_ids"]), np.int8))

    def example_of(self, inputs: Mapping[str, str]) -> NumberExample:
        return NumberExample("input", inputs["text"], 0.0)

    def inputs_of(self, example: NumberExample) -> dict[str, str]:
        return {"text": example.text}

    def read(self, lm: LoadedModel, inputs: Mapping[str, str], limit: int) -> Reading:
        encoded = self.encode_one(lm, self.example_of(inputs), limit)
        out = forward_attentions(lm, encoded.feature)
        return Reading(encoded, out, f"{float(out.logits[0, 0]):.3f}", 1.0)


WORDS = [
    "the",
    "a",
    "river",
    "stone",
    "bright",
    "dark",
    "quick",
    "slow",
    "green",
    "red",
    "seven",
    "many",
    "few",
]


def write_numbers(path: Path, n: int = 16) -> Path:
    rng = np.random.default_rng(0)
    with path.open("w") as f:
        for i in range(n):
            words = rng.choice(WORDS, size=int(rng.integers(3, 12)))
            text = " ".join(words)
            f.write(json.dumps({"id": f"n{i}", "text": text, "target": len(words) / 4}) + "\n")
    return path


@pytest.fixture(scope="module")
def regression_study(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    register_task(RegressionTask())
    root = tmp_path_factory.mktemp("regression")
    data = write_numbers(root / "numbers.jsonl")
    models = tuple(
        ModelSpec(str(tiny_model(f, "cls", num_labels=1)), f)
        for f in ("bert", "roberta", "electra")
    )

    def study(out: str, shard_size: int | None) -> Path:
        config = StudyConfig(
            figures=(),
            task="toy-regression",
            models=models,
            data=str(data),
            subsets=2,
            subset_size=6,
            score="r2",
            settings=RegressionSettings(batch_size=4, layers="all"),
            device="cpu",
            dtype="float32",
            attention_stats=2,
        )
        run_study(config, root / out, progress=False, log=lambda *_: None, shard_size=shard_size)
        return root / out

    return {"sharded": study("sharded", 4), "whole": study("whole", None)}


def test_the_registry_finds_the_new_task(regression_study: dict[str, Any]) -> None:
    assert get_task("toy-regression").columns == ("r2", "mse")


def test_subsets_carry_the_tasks_columns_and_the_metrics(regression_study) -> None:
    subsets = pd.read_csv(regression_study["sharded"] / "subsets.csv")
    assert list(subsets.columns[:6]) == ["model", "subset", "n", "n_skipped", "r2", "mse"]
    assert {"variance", "cse", "isoscore"} <= set(subsets.columns)
    assert len(subsets) == 6 and (subsets["n"] == 6).all()


def test_scores_equal_scikit_learn_on_the_rows(regression_study) -> None:
    out = regression_study["sharded"]
    examples = pd.read_parquet(out / "examples.parquet")
    subsets = pd.read_csv(out / "subsets.csv")
    for (model, subset), rows in examples.groupby(["model", "subset"]):
        row = subsets[(subsets["model"] == model) & (subsets["subset"] == subset)].iloc[0]
        assert row["r2"] == pytest.approx(100 * r2_score(rows["target"], rows["prediction"]))
        assert row["mse"] == pytest.approx(mean_squared_error(rows["target"], rows["prediction"]))


def test_the_score_is_correlated_with_every_metric(regression_study) -> None:
    correlations = json.loads((regression_study["sharded"] / "correlations.json").read_text())
    assert correlations["score"] == "r2" and correlations["n_models"] == 3
    assert {"variance", "cse"} <= set(correlations["metrics"])
    assert correlations["layers"] and "attention" in correlations


def test_sharding_changes_no_row(regression_study) -> None:
    sharded = pd.read_parquet(regression_study["sharded"] / "examples.parquet")
    whole = pd.read_parquet(regression_study["whole"] / "examples.parquet")
    pd.testing.assert_frame_equal(sharded, whole, rtol=1e-5)


def test_the_report_names_the_task(regression_study) -> None:
    html = (regression_study["sharded"] / "report.html").read_text()
    assert "text regression" in html


def test_a_task_that_takes_no_reference_refuses_standardise(regression_study) -> None:
    with pytest.raises(ParameterError, match="task toy-regression cannot standardise"):
        StudyConfig(
            task="toy-regression",
            models=(ModelSpec("unused"),),
            data="unused",
            score="r2",
            settings=RegressionSettings(standardise=True),
        )
