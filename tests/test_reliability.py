"""Faults and bad input lose nothing: a damaged cache, a full or read-only disk, a path under a
file, a folder in use, impossible options and malformed data each end in one line (exit 2 in
the CLI, :class:`CtxvecError` in the API), and what was finished stays valid.

Each case is listed, with what the user sees, in ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from sample_data import reviews, squad_json
from test_study import cli, manifest_units

from ctxvec import ClsSettings, CtxvecError, ModelSpec, QASettings, StudyConfig, run_study
from ctxvec.cli.options import flag_of
from ctxvec.data import load_qa_dataset, load_text_dataset
from ctxvec.errors import ParameterError
from ctxvec.files import LOCK_NAME

NAN, INF = float("nan"), float("inf")


def study_args(data: Path, out: Path, *models: Path) -> list[str]:
    args = ["study", "qa", "--data", str(data), "--out", str(out), "--quiet"]
    for m in models:
        args += ["--model", str(m)]
    return [*args, "--subsets", "3", "--subset-size", "3"]


def outputs(out: Path) -> dict[str, object]:
    return {
        "examples": pd.read_parquet(out / "examples.parquet"),
        "subsets": pd.read_csv(out / "subsets.csv"),
        "correlations": json.loads((out / "correlations.json").read_text()),
    }


def assert_same_outputs(got: dict, want: dict) -> None:
    pd.testing.assert_frame_equal(got["examples"], want["examples"])
    pd.testing.assert_frame_equal(got["subsets"], want["subsets"])
    assert got["correlations"] == want["correlations"]


def markers(folder: Path, below: bool = False) -> list[Path]:
    """The completion markers in ``folder`` (``below``: in its sub-folders too), not the
    temporary files of a write in progress (``.name.tmp...``)."""
    found = folder.rglob("*.json") if below else folder.glob("*.json")
    return [p for p in found if not p.name.startswith(".")]


def leftovers(folder: Path) -> list[Path]:
    """Temporary or partial files (the atomic writers' ``.name.*`` files), not the lock."""
    return [p for p in folder.rglob(".*") if p.is_file() and p.name != LOCK_NAME]


@pytest.fixture
def clean_run(tmp_path, tiny_model, capsys):
    """A finished QA study of two tiny models x 3 subsets, and its outputs."""
    data = squad_json(tmp_path / "dev.json", copies=1)
    models = (tiny_model("bert", "qa"), tiny_model("roberta", "qa"))
    out = tmp_path / "clean"
    code, _, err = cli(capsys, *study_args(data, out, *models))
    assert code == 0, err
    return data, models, out, outputs(out)


def _truncate(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


DAMAGE = {
    "marker cut to 20 bytes": lambda units: _truncate(next(units.glob("*.json")), 20),
    "rows cut to 100 bytes": lambda units: _truncate(next(units.glob("*.parquet")), 100),
    "another unit's rows copied over": lambda units: shutil.copy(
        sorted(units.glob("*.parquet"))[1], sorted(units.glob("*.parquet"))[0]
    ),
    "another unit's marker and rows copied over": lambda units: [
        shutil.copy(sorted(units.glob(f"*{ext}"))[1], sorted(units.glob(f"*{ext}"))[0])
        for ext in (".json", ".parquet")
    ],
    "a marker of an older format": lambda units: _rewrite_marker(
        next(units.glob("*.json")), format=2
    ),
    "the rows file deleted": lambda units: next(units.glob("*.parquet")).unlink(),
}


def _rewrite_marker(path: Path, **changes) -> None:
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_cache_entry_is_reported_and_recomputed(clean_run, capsys, damage) -> None:
    data, models, out, want = clean_run
    DAMAGE[damage](out / "units")
    code, stdout, err = cli(capsys, *study_args(data, out, *models))
    assert code == 0, err
    warnings = [line for line in stdout.splitlines() if "is unusable" in line]
    assert len(warnings) == 1, stdout
    recomputed = [u for u in manifest_units(out) if not u["from_cache"]]
    assert len(recomputed) == 1  # the damaged unit only
    assert_same_outputs(outputs(out), want)


def test_a_full_disk_is_one_line_and_finished_units_stay_valid(clean_run, tmp_path, capsys):
    data, models, _, want = clean_run
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)]).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        code, _, err = cli(capsys, *study_args(data, disk / "out", *models))
        assert code == 2
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "no space left on the device" in err and str(disk) in err
        assert not leftovers(disk)
        finished = sorted((disk / "out" / "units").glob("*.json"))
        assert finished, "the disk should fill after some units, not before the first"
        # What was finished is valid: another study reuses every finished unit as it is.
        big = tmp_path / "big"
        args = study_args(data, big, *models)
        code, _, err = cli(capsys, *args, "--cache-dir", str(disk / "out" / "units"))
        assert code == 0, err
        assert sum(u["from_cache"] for u in manifest_units(big)) == len(finished)
        assert_same_outputs(outputs(big), want)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_read_only_filesystem_is_one_line(clean_run, tmp_path, capsys) -> None:
    data, models, _, _ = clean_run
    disk = tmp_path / "ro"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(disk)]).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        code, _, err = cli(capsys, *study_args(data, disk / "out", *models))
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert "read-only" in err and str(disk) in err
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


WRITE = """
import sys
from ctxvec.errors import CtxvecError
from ctxvec.files import write_text
try:
    write_text(sys.argv[1], "x")
except CtxvecError as e:
    print(e)
"""


def test_permission_denied_is_one_line(tmp_path) -> None:
    """Root may write anywhere: the write runs as the unprivileged user ``nobody``."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("writing as another user needs root and setpriv")
    top = Path(tempfile.mkdtemp(prefix="ctxvec-perm-", dir="/tmp"))  # pytest's are private
    top.chmod(0o755)
    locked = top / "locked"
    locked.mkdir(mode=0o555)
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    # A checkout in a private folder (mktemp -d makes one) is unreadable to nobody: the import
    # then fails before any write is tried, and there is nothing to test.
    probe = [*as_nobody, sys.executable, "-c", "import ctxvec.files"]
    if subprocess.run(probe, capture_output=True, timeout=60, cwd="/").returncode != 0:
        pytest.skip("user nobody cannot read ctxvec's files here (a private checkout folder)")
    run = subprocess.run(
        [*as_nobody, sys.executable, "-c", WRITE, str(locked / "out" / "report.html")],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert run.stdout.strip() == (
        f"cannot write '{locked / 'out'}': permission denied; choose a folder you can write to "
        "(--out / --cache-dir)"
    ), run.stderr
    assert not list(locked.iterdir())
    shutil.rmtree(top)


def test_an_output_path_under_a_file_is_one_line(clean_run, tmp_path, capsys) -> None:
    data, models, _, _ = clean_run
    (tmp_path / "some-file").write_text("not a folder")
    code, _, err = cli(capsys, *study_args(data, tmp_path / "some-file" / "x", *models))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "is a file, not a folder" in err and "some-file" in err


HOLD = """
import sys, time
from ctxvec.files import exclusive
with exclusive(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_folder_in_use_stops_the_second_study_at_once(clean_run, capsys) -> None:
    data, models, out, want = clean_run
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = cli(capsys, *study_args(data, out, *models))
        assert code == 2 and err.count("\n") == 1
        assert f"is in use by another study (process {holder.pid})" in err
    finally:
        holder.kill()  # SIGKILL: the operating system releases the lock
        holder.wait()
    code, _, err = cli(capsys, *study_args(data, out, *models))
    assert code == 0, err
    assert_same_outputs(outputs(out), want)


# ----------------------------------------------------------------------------- options

# (CLI flags, QASettings fields, StudyConfig fields, the line both give)
QA_BAD_OPTIONS = [
    (["--subset-size", "0"], {}, {"subset_size": 0}, "--subset-size must be at least 1"),
    (["--subsets", "0"], {}, {"subsets": 0}, "--subsets must be at least 1"),
    (["--batch-size", "0"], {"batch_size": 0}, {}, "--batch-size must be at least 1"),
    (["--na-threshold", "nan"], {"na_threshold": NAN}, {}, "--na-threshold must be a finite"),
    (["--na-threshold", "inf"], {"na_threshold": INF}, {}, "--na-threshold must be a finite"),
    (["--stride", "400"], {"stride": 400}, {}, "--stride (400) must be less than --max-length"),
    (["--n-best", "0"], {"n_best": 0}, {}, "--n-best must be at least 1"),
    (["--max-answer-length", "0"], {"max_answer_length": 0}, {}, "--max-answer-length must"),
    (["--max-length", "1", "--stride", "0"], {"max_length": 1, "stride": 0}, {}, "--max-length"),
    (["--subset-starts=-3,10,20"], {}, {"subset_starts": (-3, 10, 20)}, "--subset-starts must"),
]


@pytest.mark.parametrize(("flags", "settings", "config", "message"), QA_BAD_OPTIONS)
def test_impossible_options_are_one_line_in_cli_and_api(
    tmp_path, tiny_model, capsys, flags, settings, config, message
) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    model = tiny_model("bert", "qa")
    args = study_args(data, tmp_path / "out", model)
    if "--subsets" in flags or "--subset-size" in flags:
        args = args[: args.index("--subsets")]
    code, _, err = cli(capsys, *args, *flags)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err
    with pytest.raises(ParameterError) as raised:
        StudyConfig(
            task="qa",
            models=(ModelSpec(str(model)),),
            data=str(data),
            settings=QASettings(**settings),
            **config,
        )
    # The API names its parameter (subset_size); the CLI prints the same line with the flag.
    assert str(raised.value).startswith(raised.value.parameter + " ")
    assert raised.value.spelled(flag_of) in err


def test_cls_options_are_validated_too() -> None:
    with pytest.raises(ParameterError, match="batch_size must be at least 1"):
        ClsSettings(batch_size=-1)
    with pytest.raises(ParameterError, match="max_length must be at least 2"):
        ClsSettings(max_length=0)
    with pytest.raises(ParameterError, match="label_names"):
        ClsSettings(label_names=("neg", " "))
    with pytest.raises(ParameterError, match="kernels 'fast' is not one of auto, off"):
        ClsSettings(kernels="fast")


# -------------------------------------------------------------------------------- data


def test_answers_off_their_start_are_counted_in_one_warning(tmp_path, tiny_model, capsys):
    data = squad_json(tmp_path / "dev.json", copies=1)
    squad = json.loads(data.read_text())
    answers = squad["data"][0]["paragraphs"][0]["qas"][0]["answers"]
    answers[0]["answer_start"] = 10_000  # past the end of its context
    answers[1]["answer_start"] += 1
    data.write_text(json.dumps(squad))
    dataset = load_qa_dataset(data)
    assert len(dataset.notes) == 1
    assert dataset.notes[0].startswith(f"2 of 10 answers in {data.resolve()} do not start")
    with pytest.raises(CtxvecError, match=r"2 of 10 answers .* do not start"):
        load_qa_dataset(data, strict=True)
    args = study_args(data, tmp_path / "out", tiny_model("bert", "qa"))
    code, stdout, err = cli(capsys, *args)
    assert code == 0, err
    assert [line for line in stdout.splitlines() if "warning" in line] == [
        f"ctxvec: warning: {dataset.notes[0]}"
    ]


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


def test_inputs_of_100k_characters_run(tmp_path, tiny_model) -> None:
    """A 100,000-character context is cut into windows and a 100,000-character review is
    truncated; neither runs out of memory."""
    words = "The river delta was mapped in 1820 by the survey of the northern islands. "
    long_text = (words * (100_000 // len(words) + 1))[:100_000]
    qa = tmp_path / "long.json"
    context = long_text + " Paris is the capital of France."
    qas = [{"id": "q", "question": "What is the capital of France?", "answers": [
        {"text": "Paris", "answer_start": context.index("Paris")}]}]  # fmt: skip
    qa.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": qas}]}]}))
    cls = reviews(tmp_path / "long.parquet", ["neg", "pos"])
    frame = pd.read_parquet(cls)
    frame.loc[0, "text"] = long_text
    frame.to_parquet(cls)
    for task, data, settings in (
        ("qa", qa, QASettings(max_length=128, stride=32, batch_size=16)),
        ("cls", cls, ClsSettings(max_length=128)),
    ):
        config = StudyConfig(
            task=task,
            models=(ModelSpec(str(tiny_model("bert", task))),),
            data=str(data),
            subsets=1,
            subset_size=1 if task == "qa" else 2,
            settings=settings,
        )
        result = run_study(config, tmp_path / task, progress=False, log=lambda *_: None)
        rows = result.examples
        if task == "qa":
            assert rows["n_windows"].iloc[0] > 100
        else:
            assert rows["truncated"].sum() == 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--layer", "9"], "layer 9 is out of range for 'bert-qa' (2 layers"),
        (["--layers", "0,99"], "layer 99 is out of range for 'bert-qa' (2 layers"),
        (["--layers", "0,x"], "--layers '0,x' must be 'all' or comma-separated layer numbers"),
    ],
)
def test_layers_out_of_range_are_one_line(tmp_path, tiny_model, capsys, flags, message) -> None:
    """Checked against the model once it is loaded; nothing is computed before."""
    data = squad_json(tmp_path / "dev.json", copies=1)
    args = study_args(data, tmp_path / "out", tiny_model("bert", "qa"))
    code, _, err = cli(capsys, *args, *flags)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not list((tmp_path / "out" / "units").glob("*.json"))
