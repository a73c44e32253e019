"""Cross-model similarity in a study: the values against an independent computation, sharding,
QA windows and the unit cache; the summary block against scipy.

The oracle runs each tiny model through plain transformers (``output_hidden_states``), takes
every example's mean over its real tokens of the last layer in float64 (a QA example of several
windows: the windows' means weighted by their token counts, the windows cut by the tokenizer
itself) and applies :mod:`ctxvec.metrics.similarity` to them; the study must agree to 1e-5.
"""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sample_data import squad_json
from scipy import stats
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from ctxvec import ModelSpec, StudyConfig, run_study
from ctxvec.data import load_qa_dataset
from ctxvec.metrics.similarity import linear_cka, mutual_knn
from ctxvec.study.similarity import DEFAULT_K, neighbours, similarity_block
from ctxvec.tasks.qa import QASettings

# Windows of 40 tokens overlapping by 4: most sample contexts need two or more.
MAX_LENGTH, STRIDE, SIZE = 40, 4, 6


def oracle_vectors(model_dir: Path, examples) -> dict[str, np.ndarray]:
    """Per example id, its pooled context vector, computed without ctxvec."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    vectors = {}
    for e in examples:
        enc = tokenizer(
            e.question.lstrip(),
            e.context,
            truncation="only_second",
            max_length=MAX_LENGTH,
            stride=STRIDE,
            return_overflowing_tokens=True,
            padding=True,
            return_tensors="pt",
        )
        inputs = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        with torch.no_grad():
            last = model(**inputs, output_hidden_states=True).hidden_states[-1].double()
        mask = inputs["attention_mask"].bool()
        sums = torch.stack([last[w][mask[w]].sum(0) for w in range(len(last))])
        vectors[e.id] = (sums.sum(0) / mask.sum()).numpy()  # = token-weighted mean of means
    return vectors


@pytest.fixture(scope="module")
def panel(tiny_model) -> dict[str, Path]:
    """Three tiny QA models: two BERTs of different seeds and a RoBERTa (another width rule)."""
    return {
        "bert-a": tiny_model("bert", "qa", seed=0),
        "bert-b": tiny_model("bert", "qa", seed=1),
        "roberta": tiny_model("roberta", "qa", hidden_size=48),
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return squad_json(tmp_path_factory.mktemp("similarity-data") / "dev.json")


def study(panel, data: Path, out: Path, **kwargs) -> Path:
    config = StudyConfig(
        task="qa",
        data=str(data),
        models=tuple(ModelSpec(str(p), name=n) for n, p in panel.items()),
        subsets=2,
        subset_size=SIZE,
        settings=QASettings(max_length=MAX_LENGTH, stride=STRIDE, batch_size=4),
        figures=(),
    )
    run_study(config, out, progress=False, log=kwargs.pop("log", lambda line: None), **kwargs)
    return out


@pytest.fixture(scope="module")
def whole(tmp_path_factory, panel, data) -> Path:
    return study(panel, data, tmp_path_factory.mktemp("whole") / "out")


def table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "similarity.csv")


@pytest.mark.slow
def test_values_equal_the_oracles_on_vectors_from_plain_transformers(whole, panel, data) -> None:
    examples = {e.id: e for e in load_qa_dataset(str(data), "validation").examples}
    rows = pd.read_parquet(whole / "examples.parquet")
    assert (rows["n_windows"] > 1).any()  # the windows' weighting is exercised
    vectors = {m: oracle_vectors(p, examples.values()) for m, p in panel.items()}
    got = table(whole)
    assert len(got) == 3 * 2  # pairs x subsets
    for row in got.itertuples():
        ids = rows[(rows["model"] == row.model_a) & (rows["subset"] == row.subset)]["id"]
        x = np.stack([vectors[row.model_a][i] for i in ids])
        y = np.stack([vectors[row.model_b][i] for i in ids])
        assert row.n == SIZE and row.k == (SIZE - 1) // 2
        assert row.cka == pytest.approx(linear_cka(x, y), abs=1e-5)
        assert row.cka_unbiased == pytest.approx(linear_cka(x, y, unbiased=True), abs=1e-5)
        assert row.mutual_knn == pytest.approx(mutual_knn(x, y, row.k), abs=1e-9)


@pytest.mark.slow
def test_a_sharded_study_gives_the_same_similarity(tmp_path, whole, panel, data) -> None:
    sharded = study(panel, data, tmp_path / "out", shard_size=4)  # shards of 4 and 2
    pd.testing.assert_frame_equal(table(sharded), table(whole), atol=1e-6, rtol=0)


@pytest.mark.slow
def test_cached_vectors_are_reused_and_a_damaged_file_recomputed(tmp_path, whole, panel, data):
    out = tmp_path / "out"
    shutil.copytree(whole, out)
    study(panel, data, out)  # every unit from the cache, vectors included
    pd.testing.assert_frame_equal(table(out), table(whole), check_exact=True)
    damaged = sorted((out / "units").glob("*.npz"))[0]
    damaged.write_bytes(damaged.read_bytes()[:50])
    lines: list[str] = []
    study(panel, data, out, log=lines.append)
    unusable = [line for line in lines if "is unusable" in line]
    assert len(unusable) == 1 and damaged.name in unusable[0]
    pd.testing.assert_frame_equal(table(out), table(whole), atol=1e-6, rtol=0)


# ------------------------------------------------------------------------ the summary block


def synthetic_table(models: list[str], subsets: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"model_a": a, "model_b": b, "subset": s, "n": 50, "k": DEFAULT_K,
         "cka": rng.uniform(), "cka_unbiased": rng.uniform(), "mutual_knn": rng.uniform()}
        for s in range(subsets)
        for a, b in itertools.combinations(models, 2)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_the_block_correlates_alignment_with_the_best_model_as_scipy_does() -> None:
    models = ["m0", "m1", "m2", "m3", "m4"]
    sims = synthetic_table(models, subsets=3)
    scores = pd.DataFrame(
        [
            {"model": m, "subset": s, "f1": 50 + 7 * i + s}
            for i, m in enumerate(models)
            for s in range(3)
        ]
    )
    block = similarity_block(sims, scores, "f1")
    assert block["best"] == "m4" and block["models"] == models and block["note"] is None
    for measure in ("cka", "cka_unbiased", "mutual_knn"):
        with_best = sims[sims["model_b"] == "m4"].groupby("model_a")[measure].mean()
        assert block["alignment"][measure] == pytest.approx(with_best.to_dict())
        r = stats.pearsonr(with_best[models[:4]], [51 + 7 * i for i in range(4)])
        assert block["correlation"][measure]["pearson_r"] == pytest.approx(r.statistic)
        assert block["model_permutation"][measure]["n"] == 4
        matrix = np.array(block["matrix"][measure])
        assert np.allclose(matrix, matrix.T) and np.all(np.diag(matrix) == 1)
        assert matrix[1, 3] == pytest.approx(
            sims[sims["model_a"].eq("m1") & sims["model_b"].eq("m3")][measure].mean()
        )


def test_two_other_models_give_no_correlation_and_small_subsets_a_note() -> None:
    sims = synthetic_table(["a", "b", "c"], subsets=1).assign(n=5, k=neighbours(5))
    scores = pd.DataFrame({"model": ["a", "b", "c"], "subset": 0, "f1": [1.0, 3.0, 2.0]})
    block = similarity_block(sims, scores, "f1")
    assert block["best"] == "b"
    assert math.isnan(block["correlation"]["cka"]["pearson_r"])
    assert math.isnan(block["model_permutation"]["cka"]["p"])
    assert "n = 5, k = 2" in block["note"]


def test_k_is_at_most_half_of_the_other_examples() -> None:
    assert [neighbours(n) for n in (2, 3, 5, 20, 21, 500)] == [0, 1, 2, 9, 10, 10]
