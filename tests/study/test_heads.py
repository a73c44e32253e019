"""``--attention-stats``: per-head statistics in a study, against their oracles.

- For the same examples, the study's statistics equal ``ctxvec attention --stats-size``'s
  (:func:`ctxvec.attention.subset_statistics`) to 1e-9, for every tiny family, QA and
  classification (long texts cut as the study's pass cuts them).
- The depth-bin correlations equal scipy's on points rebuilt from ``attention.csv`` by hand.
- Without the option the study's outputs are those of a study that never heard of it; with it,
  the metric pass is untouched, and sharding or the cache change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sample_data import reviews, squad_json
from scipy import stats
from tiny_models import DECODER_FAMILIES, FAMILIES

from ctxvec.attention import load_for_attention, subset_statistics
from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec
from ctxvec.metrics.heads import STATISTICS
from ctxvec.study import StudyConfig, run_study
from ctxvec.tasks.classify import ClsSettings

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out


def quiet(_: str) -> None:
    """Swallow the study's progress lines."""


def squad_subset(source: Path, ids: list[str], path: Path) -> Path:
    """The SQuAD file ``source`` cut down to the questions ``ids`` (paragraphs kept whole)."""
    doc = json.loads(source.read_text())
    wanted = set(ids)
    for article in doc["data"]:
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = [q for q in paragraph["qas"] if q["id"] in wanted]
    path.write_text(json.dumps(doc))
    return path


def study_heads(result, model: str, subset: int) -> tuple[pd.DataFrame, list[str]]:
    """The head rows of ``attention.csv`` for one unit, and the ids the unit measured."""
    table = result.attention
    rows = table[(table["model"] == model) & (table["subset"] == subset)]
    rows = rows[rows["head"] != "mean"].reset_index(drop=True)
    unit = next(u for u in result.units if u.unit.model.label == model and u.unit.subset == subset)
    return rows, unit.summary.attention["used"]


def assert_same_heads(study: pd.DataFrame, oracle: pd.DataFrame) -> None:
    assert study["layer"].tolist() == oracle["layer"].tolist()
    assert study["head"].astype(int).tolist() == oracle["head"].tolist()
    for column in STATISTICS:
        np.testing.assert_allclose(
            study[column].to_numpy(float), oracle[column].to_numpy(float), rtol=0, atol=1e-9
        )


@pytest.fixture(scope="module")
def qa_study(tmp_path_factory, tiny_model):
    """Every family (and one deeper model, so that all depth bins occur) on 2 x 6 questions."""
    root = tmp_path_factory.mktemp("qa-attention")
    data = squad_json(root / "squad.json")
    models = [ModelSpec(str(tiny_model(f, "qa")), f) for f in FAMILIES]
    models.append(ModelSpec(str(tiny_model("bert", "qa", num_layers=6)), "bert-6"))
    config = StudyConfig(
        task="qa", models=tuple(models), data=str(data), subsets=2, subset_size=6,
        attention_stats=4, dtype="float32", figures=(),
    )  # fmt: skip
    return run_study(config, root / "out", progress=False, log=quiet), data, root


@pytest.mark.parametrize("family", FAMILIES)
def test_qa_statistics_equal_the_attention_view(qa_study, family, tmp_path) -> None:
    result, data, _ = qa_study
    path = next(u.unit.model_path for u in result.units if u.unit.model.label == family)
    lm = load_for_attention(ModelSpec(path), "qa")
    for subset in (0, 1):
        rows, used = study_heads(result, family, subset)
        assert len(used) == 4
        cut = squad_subset(data, used, tmp_path / f"subset{subset}.json")
        oracle = subset_statistics(lm, str(cut), size=len(used), max_length=384)
        assert sorted(oracle.used) == sorted(used)
        assert_same_heads(rows, oracle.table)
        assert (rows["n_inputs"] == 4).all()


def test_every_model_of_a_subset_is_measured_on_the_same_examples(qa_study) -> None:
    result, _, _ = qa_study
    for subset in (0, 1):
        samples = {
            tuple(u.summary.attention["used"]) for u in result.units if u.unit.subset == subset
        }
        assert len(samples) == 1
    first = {u.unit.subset: u.summary.attention["used"] for u in result.units}
    assert first[0] != first[1]


def test_cls_statistics_equal_the_attention_view_with_truncation(tmp_path, tiny_model) -> None:
    texts = reviews(tmp_path / "reviews.parquet", [0, 1] * 6)
    frame = pd.read_parquet(texts)
    frame["text"] = frame["text"] + " It went on and on, and on again, well past the limit."
    frame["id"] = [f"review-{i}" for i in range(len(frame))]
    frame.to_parquet(texts)
    # Decoders too: their statistics are over the keys each query can see.
    families = (*FAMILIES, *DECODER_FAMILIES)
    models = tuple(ModelSpec(str(tiny_model(f, "cls")), f) for f in families)
    config = StudyConfig(
        task="cls", models=models, data=str(texts), subsets=1, subset_size=8,
        settings=ClsSettings(max_length=12), attention_stats=5, dtype="float32", figures=(),
    )  # fmt: skip
    result = run_study(config, tmp_path / "out", progress=False, log=quiet)
    assert result.examples["truncated"].all()  # the sample is cut, not skipped
    for family in families:
        rows, used = study_heads(result, family, 0)
        assert len(used) == 5
        subset_file = tmp_path / f"{family}.parquet"
        frame[frame["id"].isin(used)].to_parquet(subset_file)
        lm = load_for_attention(ModelSpec(str(tiny_model(family, "cls"))), "cls")
        oracle = subset_statistics(lm, str(subset_file), 5, max_length=12, truncate=True)
        assert_same_heads(rows, oracle.table)
        assert rows["question_to_context"].isna().all()
        assert lm.causal == (family in DECODER_FAMILIES)


def depth_of(layer: int, n_layers: int) -> str:
    """The documented bins, written out again (docs/attention.md)."""
    if layer == n_layers:
        return "last"
    if 3 * layer <= n_layers:
        return "lower"
    if 3 * layer <= 2 * n_layers:
        return "middle"
    return "upper"


def test_depth_bin_correlations_equal_scipy(qa_study) -> None:
    _, _, root = qa_study
    table = pd.read_csv(root / "out" / "attention.csv")
    subsets = pd.read_csv(root / "out" / "subsets.csv")
    correlations = json.loads((root / "out" / "correlations.json").read_text())["attention"]
    means = table[table["head"] == "mean"].copy()
    means["bin"] = [depth_of(a, b) for a, b in zip(means["layer"], means["n_layers"], strict=True)]
    assert (means["bin"] == means["depth_bin"]).all()
    checked = 0
    for stat, cells in correlations["statistics"].items():
        for where, cell in cells.items():
            units = means[means["bin"] == where].groupby(["model", "subset"])[stat].mean()
            points = subsets.set_index(["model", "subset"])[["f1"]].join(units, how="inner")
            per_model = points.groupby(level="model").mean()
            assert cell["n_models"] == len(per_model)
            r, p = stats.pearsonr(per_model["f1"], per_model[stat])
            rho, _ = stats.spearmanr(per_model["f1"], per_model[stat])
            assert cell["model_level"]["pearson_r"] == pytest.approx(r, abs=1e-12)
            assert cell["model_level"]["pearson_p"] == pytest.approx(p, abs=1e-12)
            assert cell["model_level"]["spearman_rho"] == pytest.approx(rho, abs=1e-12)
            r_all, _ = stats.pearsonr(points["f1"], points[stat])
            assert cell["subset_level"]["pearson_r"] == pytest.approx(r_all, abs=1e-12)
            checked += 1
    # Only bert-6 has lower and upper layers: those bins have one model and are left out.
    assert set(correlations["statistics"]["entropy"]) == {"middle", "last"}
    assert checked >= 10


def test_outputs_without_the_option_are_unchanged_and_the_pass_untouched(
    qa_study, tmp_path
) -> None:
    result, data, root = qa_study
    config = StudyConfig(
        task="qa", models=tuple(u.unit.model for u in result.units[::2]), data=str(data),
        subsets=2, subset_size=6, dtype="float32", figures=(),
    )  # fmt: skip
    plain = run_study(config, tmp_path / "plain", progress=False, log=quiet)
    assert plain.attention is None
    assert not (tmp_path / "plain" / "attention.csv").exists()
    with_stats = root / "out"
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "plain" / "examples.parquet"),
        pd.read_parquet(with_stats / "examples.parquet"),
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "plain" / "subsets.csv"), pd.read_csv(with_stats / "subsets.csv")
    )
    plain_corr = json.loads((tmp_path / "plain" / "correlations.json").read_text())
    stats_corr = json.loads((with_stats / "correlations.json").read_text())
    assert "attention" not in plain_corr
    stats_corr.pop("attention")
    assert plain_corr == stats_corr


def test_sharding_and_the_cache_change_nothing(tmp_path, tiny_model) -> None:
    data = squad_json(tmp_path / "squad.json")
    models = tuple(ModelSpec(str(tiny_model(f, "qa")), f) for f in ("bert", "xlnet", "roberta"))

    def study(out: str, n: int = 4, shard_size: int | None = None):
        config = StudyConfig(
            task="qa", models=models, data=str(data), subsets=2, subset_size=6,
            attention_stats=n, dtype="float32", figures=(),
        )  # fmt: skip
        return run_study(config, tmp_path / out, progress=False, log=quiet, shard_size=shard_size)

    whole = study("whole")
    sharded = study("sharded", shard_size=2)
    pd.testing.assert_frame_equal(whole.attention, sharded.attention)
    again = study("whole")  # every unit from the cache
    assert all(u.from_cache for u in again.units)
    pd.testing.assert_frame_equal(whole.attention, again.attention)
    resharded = study("sharded", shard_size=2)
    assert all(u.from_cache for u in resharded.units)
    # N is part of the unit: another N is computed, not served from the cache.
    other = study("whole", n=2)
    assert not any(u.from_cache for u in other.units)
    assert set(other.attention["n_inputs"]) == {2}


def test_a_negative_count_is_one_line_on_the_command_line(tmp_path, tiny_model, run_cli) -> None:
    data = squad_json(tmp_path / "squad.json")
    code, _, err = run_cli(
        "study", "qa", "--model", str(tiny_model("bert", "qa")), "--data", str(data),
        "--attention-stats", "-1", "--out", str(tmp_path / "bad"),
    )  # fmt: skip
    assert code == 2
    assert "--attention-stats" in err and "Traceback" not in err


def test_the_option_on_the_command_line(tmp_path, tiny_model, run_cli) -> None:
    data = squad_json(tmp_path / "squad.json")
    code, _, err = run_cli(
        "study", "qa", "--model", str(tiny_model("bert", "qa")), "--data", str(data),
        "--subsets", "2", "--subset-size", "4", "--attention-stats", "3",
        "--out", str(tmp_path / "ok"), "--quiet",
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(tmp_path / "ok" / "attention.csv")
    assert set(table["n_inputs"]) == {3}
    manifest = json.loads((tmp_path / "ok" / "manifest.json").read_text())
    assert manifest["config"]["attention_stats"] == 3


def test_a_negative_count_is_refused_in_the_api() -> None:
    with pytest.raises(CtxvecError, match="attention_stats must be at least 0"):
        StudyConfig(task="qa", models=(), data="x", attention_stats=-1)
