"""``ctxvec data`` and ``ctxvec zoo``: the benchmark's commands."""

from __future__ import annotations

import pandas as pd


def test_data_make_writes_the_asked_examples(tmp_path, run_cli):
    target = tmp_path / "reviews.parquet"
    code, _, err = run_cli("data", "make", "cls", "--out", str(target), "--n", "10", "--seed", "2")
    assert code == 0, err
    assert len(pd.read_parquet(target)) == 10


def test_data_make_to_a_wrong_suffix_is_one_line(run_cli):
    code, _, err = run_cli("data", "make", "cls", "--out", "x.json")
    assert code == 2
    assert err.startswith("ctxvec: error:") and ".parquet" in err and err.count("\n") == 1
