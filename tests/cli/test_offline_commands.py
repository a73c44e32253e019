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


def test_data_make_writes_image_folders_and_audio_tables_the_study_reads(tmp_path, run_cli):
    from ctxvec.data import load_audio_dataset, load_image_dataset

    images, clips = tmp_path / "images", tmp_path / "clips.parquet"
    for kind, target in (("image", images), ("audio", clips)):
        code, _, err = run_cli("data", "make", kind, "--out", str(target), "--n", "8")
        assert code == 0, err
    assert len(load_image_dataset(images)) == 8 and len(load_audio_dataset(clips)) == 8
    code, _, err = run_cli("data", "make", "image", "--out", str(images), "--n", "8")
    assert code == 2 and err.count("\n") == 1 and "already exists" in err
