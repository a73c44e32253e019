"""``ctxvec attention``: the files it writes, and its mistakes in one line."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

QUESTION_TEXT = "Who discovered polonium?"
CONTEXT_TEXT = "Marie Curie and Pierre Curie discovered it in 1898."


@pytest.fixture(scope="module")
def model(tiny_model) -> str:
    return str(tiny_model("electra", "qa"))


def test_every_view_is_written(model, tmp_path, run_cli) -> None:
    code, out, err = run_cli(
        "attention", model, "--question", QUESTION_TEXT, "--context", CONTEXT_TEXT,
        "--out", str(tmp_path), "--crop", "question-answer", "--head", "2",
        "--formats", "png,svg", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    assert "answer" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        [f"{s}.{f}" for s in ("layer2_heads", "layer2_head2", "overview", "statistics")
         for f in ("png", "svg")] + ["statistics.csv", "viewer.html"]
    )  # fmt: skip


def test_no_html_skips_the_viewer(model, tmp_path, run_cli) -> None:
    args = ["attention", model, "--question", "Who?", "--context", "Ada wrote it."]
    code, _, err = run_cli(
        *args, "--out", str(tmp_path), "--formats", "png", "--device", "cpu", "--no-html"
    )
    assert code == 0, err
    assert not (tmp_path / "viewer.html").exists()
    assert (tmp_path / "statistics.csv").is_file()


def test_a_text_for_a_qa_checkpoint_says_its_head_is_missing(model, tmp_path, run_cli) -> None:
    code, _, err = run_cli("attention", model, "--text", "hi", "--out", str(tmp_path / "x"))
    assert code == 2 and "no trained sequence-classification head" in err
    assert "Traceback" not in err


def test_a_layer_out_of_range_is_one_line_and_writes_nothing(model, tmp_path, run_cli) -> None:
    code, _, err = run_cli(
        "attention", model, "--question", "q", "--context", "c", "--layer", "7",
        "--out", str(tmp_path / "y"), "--device", "cpu",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "layer 7 is out of range" in err
    assert not (tmp_path / "y").exists()


def test_every_line_it_prints_fits_80_columns(model, tmp_path, run_cli) -> None:
    long_question = "Which of the two scientists discovered polonium, and in which year? " * 2
    code, out, err = run_cli(
        "attention", model, "--question", long_question, "--context", CONTEXT_TEXT,
        "--out", str(tmp_path), "--formats", "png", "--device", "cpu", "--no-html",
    )  # fmt: skip
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80, out
