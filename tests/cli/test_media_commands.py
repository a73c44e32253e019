"""``ctxvec study image|audio`` and ``ctxvec attention --image|--audio``: files, and mistakes in
one line."""

from __future__ import annotations

import numpy as np
import pytest
from media_models import build_media_checkpoint
from PIL import Image
from scipy.io import wavfile

from ctxvec.offline.synth import write_audio, write_images

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

SYNTH_CLASSES = {
    "image": ["circle", "square", "triangle", "stripes"],
    "audio": ["tone", "chirp", "formant", "noise-burst"],
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A ViT and an AST with the synthetic sets' four labels."""
    from transformers import AutoConfig

    root = tmp_path_factory.mktemp("media")
    found = {}
    for task, model_type in (("image", "vit"), ("audio", "audio-spectrogram-transformer")):
        path = build_media_checkpoint(model_type, root / model_type, num_labels=4)
        config = AutoConfig.from_pretrained(path)
        config.id2label = dict(enumerate(SYNTH_CLASSES[task]))
        config.label2id = {n: i for i, n in enumerate(SYNTH_CLASSES[task])}
        config.save_pretrained(path)
        found[task] = str(path)
    found["images"] = str(write_images(root / "images", 16, seed=0))
    found["audio_data"] = str(write_audio(root / "audio.parquet", 8, seed=0))
    return found


def test_an_image_and_an_audio_study_write_their_tables_and_reports(
    checkpoints, tmp_path, run_cli
) -> None:
    for task, data, size in (("image", "images", "8"), ("audio", "audio_data", "4")):
        out = tmp_path / task
        code, stdout, err = run_cli(
            "study", task, "--model", checkpoints[task], "--data", checkpoints[data],
            "--subsets", "2", "--subset-size", size, "--out", str(out), "--figures", "none",
            "--device", "cpu", "--dtype", "float32", "--quiet",
        )  # fmt: skip
        assert code == 0, err
        assert "accuracy" in stdout
        for name in ("subsets.csv", "models.csv", "examples.parquet", "report.html"):
            assert (out / name).is_file(), name


def test_the_attention_view_of_an_image_and_a_clip(checkpoints, tmp_path, run_cli) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 40, 3), np.uint8)).save(tmp_path / "x.png")
    wave = (8000 * np.sin(np.arange(12000) / 8000 * 2 * np.pi * 440)).astype(np.int16)
    wavfile.write(tmp_path / "x.wav", 8000, wave)
    for task, given, figure in (("image", "x.png", "patch"), ("audio", "x.wav", "frames")):
        out = tmp_path / f"view-{task}"
        code, stdout, err = run_cli(
            "attention", checkpoints[task], f"--{task}", str(tmp_path / given), "--out",
            str(out), "--formats", "png", "--device", "cpu", "--no-html",
        )  # fmt: skip
        assert code == 0, err
        assert "label" in stdout
        names = {p.name for p in out.iterdir()}
        assert {f"{figure}_layer2_head1.png", f"{figure}_rollout.png"} <= names


def test_an_unreadable_image_is_one_line_naming_it(checkpoints, tmp_path, run_cli) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code, _, err = run_cli(
        "attention", checkpoints["image"], "--image", str(tmp_path / "bad.png"),
        "--out", str(tmp_path / "v"), "--device", "cpu",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "bad.png" in err
