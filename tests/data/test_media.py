"""Image and audio data: every source kind, decoding to RGB and mono, WAV scaling, resampling
against an analytic sine, scikit-learn's digits, every error line, the fingerprint."""

from __future__ import annotations

import io
import json
import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile
from PIL import Image

from ctxvec.data import (
    AudioExample,
    ImageExample,
    MediaDataset,
    load_audio_dataset,
    load_image_dataset,
    read_audio,
    read_image,
    resample,
)
from ctxvec.errors import CtxvecError

RED = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
RED = RED.astype(np.uint8)  # [2, 3, 3]: a 2x3 RGB image with distinct pixels


def png(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(path)
    return path


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def wav(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.wavfile.write(path, rate, samples)
    return path


def wav_bytes(samples: np.ndarray, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    scipy.io.wavfile.write(buffer, rate, samples)
    return buffer.getvalue()


def one_line_error(load: Callable[[], object], *names: object) -> str:
    """The CtxvecError ``load`` raises: one line naming every one of ``names``."""
    with pytest.raises(CtxvecError) as info:
        load()
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert str(name) in message, message
    return message


def test_image_folder(tmp_path: Path) -> None:
    png(tmp_path / "dog" / "b.png", RED[::-1])
    png(tmp_path / "cat" / "2.png", RED[:, ::-1])
    Image.fromarray(RED).save(tmp_path / "cat" / "1.bmp")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "cat" / "._1.png").write_bytes(b"macOS metadata, not an image")
    png(tmp_path / "cat" / "deeper" / "3.png", RED)  # only files directly in a class folder
    ds = load_image_dataset(tmp_path)
    assert [e.id for e in ds.examples] == ["cat/1", "cat/2", "dog/b"]
    assert [e.label for e in ds.examples] == ["cat", "cat", "dog"]
    assert ds.label_names == ["cat", "dog"]
    assert ds.source == str(tmp_path.resolve())
    for example, pixels in zip(ds.examples, [RED, RED[:, ::-1], RED[::-1]], strict=True):
        assert example.image.dtype == np.uint8
        np.testing.assert_array_equal(example.image, pixels)
    assert len(ds) == 3 and ds.notes == ()


def test_split_folder_is_read_when_present(tmp_path: Path) -> None:
    png(tmp_path / "train" / "cat" / "1.png", RED)
    png(tmp_path / "test" / "cat" / "1.png", RED)
    png(tmp_path / "test" / "dog" / "1.png", RED)
    (tmp_path / "test" / "bird").mkdir()
    ds = load_image_dataset(tmp_path, split="test")
    assert ds.source == str((tmp_path / "test").resolve())
    assert [e.id for e in ds.examples] == ["cat/1", "dog/1"]
    assert ds.label_names == ["cat", "dog"]
    assert ds.notes == ("class folder(s) bird hold no image files and are left out",)
    assert [e.id for e in load_image_dataset(tmp_path, split="train").examples] == ["cat/1"]


def test_grayscale_palette_and_rgba_become_rgb(tmp_path: Path) -> None:
    grey = np.array([[0, 100, 255], [7, 8, 9]], np.uint8)
    np.testing.assert_array_equal(
        read_image(png(tmp_path / "l.png", grey, "L")), np.repeat(grey[..., None], 3, axis=-1)
    )
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.gif")
    np.testing.assert_array_equal(
        read_image(tmp_path / "p.gif"), np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)
    )
    rgba = np.concatenate([RED, np.full((2, 3, 1), 9, np.uint8)], axis=-1)
    np.testing.assert_array_equal(read_image(png(tmp_path / "a.png", rgba, "RGBA")), RED)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        (np.array([-32768, 0, 16384, 32767], np.int16), [-1.0, 0.0, 0.5, 32767 / 32768]),
        (np.array([0, 128, 192, 255], np.uint8), [-1.0, 0.0, 0.5, 127 / 128]),
        (np.array([-(2**31), 0, 2**30], np.int32), [-1.0, 0.0, 0.5]),
        (np.array([-1.0, 0.25, 1.0], np.float32), [-1.0, 0.25, 1.0]),
    ],
)
def test_wav_formats_scale_to_unit_range(
    tmp_path: Path, samples: np.ndarray, expected: list[float]
) -> None:
    waveform, rate = read_audio(wav(tmp_path / "x.wav", samples, rate=22050))
    assert rate == 22050 and waveform.dtype == np.float32
    np.testing.assert_allclose(waveform, expected, rtol=0, atol=1e-7)


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    stereo = np.array([[16384, 0], [-32768, -16384], [8192, 8192]], np.int16)  # [n, channels]
    waveform, _ = read_audio(wav(tmp_path / "s.wav", stereo))
    np.testing.assert_allclose(waveform, [0.25, -0.75, 0.25], rtol=0, atol=1e-7)


def test_audio_folder(tmp_path: Path) -> None:
    wav(tmp_path / "yes" / "a.wav", np.array([0, 16384], np.int16), rate=16000)
    wav(tmp_path / "no" / "b.WAV", np.array([-16384], np.int16), rate=8000)
    ds = load_audio_dataset(tmp_path)
    assert [(e.id, e.label, e.sampling_rate) for e in ds.examples] == [
        ("no/b", "no", 8000),
        ("yes/a", "yes", 16000),
    ]
    np.testing.assert_allclose(ds.examples[1].waveform, [0.0, 0.5])
    assert ds.label_names == ["no", "yes"]


def test_image_tables_parquet_with_class_names_and_jsonl_paths(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog"])}
    )
    cells = [
        {"bytes": png_bytes(RED), "path": "r.png"},
        {"bytes": png_bytes(RED[::-1]), "path": None},
    ]
    table = datasets.Dataset.from_dict({"image": cells, "label": [1, 0]}, features=features)
    table.to_parquet(tmp_path / "images.parquet")
    ds = load_image_dataset(tmp_path / "images.parquet")
    assert [e.id for e in ds.examples] == ["0", "1"]
    assert [e.label for e in ds.examples] == [1, 0]
    assert ds.label_names == ["cat", "dog"]  # from the file's huggingface metadata
    np.testing.assert_array_equal(ds.examples[1].image, RED[::-1])

    png(tmp_path / "pics" / "a.png", RED)
    rows = [
        {"id": "x", "image": {"bytes": None, "path": "pics/a.png"}, "label": 3},
        {"id": "y", "image": str(tmp_path / "pics" / "a.png"), "label": 4},
    ]
    (tmp_path / "images.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    ds = load_image_dataset(tmp_path / "images.jsonl")
    assert [(e.id, e.label) for e in ds.examples] == [("x", 3), ("y", 4)]
    assert ds.label_names is None  # integer labels nobody named
    for example in ds.examples:
        np.testing.assert_array_equal(example.image, RED)


def test_audio_tables_parquet_bytes_and_jsonl_arrays(tmp_path: Path) -> None:
    cells = [{"bytes": wav_bytes(np.array([16384, -16384], np.int16), 16000), "path": "c.wav"}]
    pd.DataFrame({"audio": cells, "label": ["dog"]}).to_parquet(tmp_path / "a.parquet")
    (example,) = load_audio_dataset(tmp_path / "a.parquet").examples
    assert (example.id, example.label, example.sampling_rate) == ("0", "dog", 16000)
    np.testing.assert_allclose(example.waveform, [0.5, -0.5])

    row = {"id": "k", "audio": {"array": [0.1, -0.2, 0.3], "sampling_rate": 4000}, "label": 1}
    (tmp_path / "a.jsonl").write_text(json.dumps(row))
    (example,) = load_audio_dataset(tmp_path / "a.jsonl").examples
    assert (example.id, example.label, example.sampling_rate) == ("k", 1, 4000)
    np.testing.assert_allclose(example.waveform, [0.1, -0.2, 0.3], rtol=1e-7)


@pytest.fixture
def local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """``datasets.load_dataset`` answering hub ids from local parquet files through the real
    parquet builder (features from the files' metadata), as the hub's parquet datasets are
    read: ``{hub id: parquet file}``."""
    import datasets

    real, files = datasets.load_dataset, {}

    def load_dataset(name: str, split: str) -> datasets.Dataset:
        return real(
            "parquet",
            data_files={split: str(files[name])},
            split=split,
            cache_dir=str(tmp_path / "cache"),
        )

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return files


def test_hub_image_dataset_is_read_undecoded_with_its_class_names(
    tmp_path: Path, local_hub: dict[str, Path]
) -> None:
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["no", "yes"])}
    )
    grey = np.array([[5, 6], [7, 8]], np.uint8)
    cells = [{"bytes": png_bytes(RED), "path": None}, {"bytes": png_bytes(grey), "path": None}]
    table = datasets.Dataset.from_dict({"image": cells, "label": [0, 1]}, features=features)
    table.to_parquet(tmp_path / "pets.parquet")
    local_hub["someone/pets"] = tmp_path / "pets.parquet"
    ds = load_image_dataset("someone/pets", split="validation")
    assert ds.source == "hub:someone/pets" and ds.label_names == ["no", "yes"]
    np.testing.assert_array_equal(ds.examples[0].image, RED)
    np.testing.assert_array_equal(ds.examples[1].image, np.repeat(grey[..., None], 3, -1))


def test_hub_audio_dataset(tmp_path: Path, local_hub: dict[str, Path]) -> None:
    import datasets

    cells = [{"bytes": wav_bytes(np.array([8192, 0, -8192], np.int16), 16000), "path": "x.wav"}]
    table = datasets.Dataset.from_dict({"audio": cells, "label": [1]})
    # Cast rather than encode: encoding an Audio feature needs torchcodec, casting does not.
    table = table.cast_column("audio", datasets.Audio())
    table = table.cast_column("label", datasets.ClassLabel(names=["down", "up"]))
    table.to_parquet(tmp_path / "clips.parquet")
    local_hub["someone/clips"] = tmp_path / "clips.parquet"
    ds = load_audio_dataset("someone/clips", split="test")
    assert ds.label_names == ["down", "up"]
    (example,) = ds.examples
    assert (example.label, example.sampling_rate) == (1, 16000)
    np.testing.assert_allclose(example.waveform, [0.25, 0.0, -0.25])


def test_sklearn_digits() -> None:
    from sklearn.datasets import load_digits

    ds = load_image_dataset("sklearn-digits", split="all")
    digits = load_digits()
    assert len(ds) == 1797
    assert ds.examples[0].id == "digits-0000" and ds.examples[-1].id == "digits-1796"
    assert [e.label for e in ds.examples] == digits.target.tolist()
    assert ds.label_names == [str(d) for d in range(10)]
    images = np.stack([e.image for e in ds.examples])
    assert images.shape == (1797, 8, 8, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 1], images[..., 0])
    np.testing.assert_array_equal(images[..., 0], np.round(digits.images * 255 / 16))
    # By hand: the grey levels 0, 8 and 16 become 0, 128 (127.5 rounded to even) and 255.
    levels = dict(zip(digits.images.ravel(), images[..., 0].ravel(), strict=True))
    assert (levels[0.0], levels[8.0], levels[16.0]) == (0, 128, 255)


def test_sklearn_digits_splits_train_and_test_apart() -> None:
    train = load_image_dataset("sklearn-digits", split="train").examples
    test = load_image_dataset("sklearn-digits", split="test").examples
    assert (len(train), len(test)) == (1197, 600)
    assert [e.id for e in train + test] == [f"digits-{i:04d}" for i in range(1797)]
    with pytest.raises(CtxvecError) as error:
        load_image_dataset("sklearn-digits", split="validation")
    assert "\n" not in str(error.value) and "train, test, all" in str(error.value)


@pytest.mark.parametrize(("rate", "target"), [(8000, 16000), (16000, 12000), (44100, 16000)])
def test_resample_keeps_a_sine(rate: int, target: int) -> None:
    n, hz = 4001, 440.0
    out = resample(np.sin(2 * np.pi * hz * np.arange(n) / rate), rate, target)
    assert out.dtype == np.float32
    assert len(out) == math.ceil(n * target / rate)
    expected = np.sin(2 * np.pi * hz * np.arange(len(out)) / target)
    middle = slice(len(out) // 10, -len(out) // 10)  # the filter's edge effects aside
    np.testing.assert_allclose(out[middle], expected[middle], rtol=0, atol=5e-3)


def test_resample_at_the_same_rate_is_the_identity() -> None:
    x = np.array([0.5, -0.25, 1.0])
    out = resample(x, 16000, 16000)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)
    one_line_error(lambda: resample(x, 0, 16000), "rate")


def test_fingerprint_follows_the_content(tmp_path: Path) -> None:
    png(tmp_path / "a" / "cat" / "1.png", RED)
    png(tmp_path / "a" / "dog" / "1.png", RED[::-1])
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    first = load_image_dataset(tmp_path / "a")
    assert load_image_dataset(tmp_path / "b").fingerprint == first.fingerprint
    changed = RED.copy()
    changed[1, 2, 0] += 1
    png(tmp_path / "b" / "cat" / "1.png", changed)
    assert load_image_dataset(tmp_path / "b").fingerprint != first.fingerprint

    clip = np.array([0.5, -0.5], np.float32)
    base = MediaDataset([AudioExample("c", clip, 16000, 0)], "s")
    assert MediaDataset([AudioExample("c", clip.copy(), 16000, 0)], "t").fingerprint == (
        base.fingerprint
    )
    assert MediaDataset([AudioExample("c", clip, 8000, 0)], "s").fingerprint != base.fingerprint
    # The same bytes in another shape are another image.
    flat = RED.reshape(3, 2, 3)
    assert (
        MediaDataset([ImageExample("i", flat, 0)], "s").fingerprint
        != MediaDataset([ImageExample("i", RED, 0)], "s").fingerprint
    )


def test_containers_check_their_arrays() -> None:
    one_line_error(lambda: ImageExample("i", RED.astype(float), 0), "'i'", "uint8")
    one_line_error(lambda: ImageExample("i", RED[..., 0], 0), "[2, 3]")
    one_line_error(lambda: AudioExample("a", np.zeros(3, np.int16), 16000, 0), "float32", "int16")
    assert AudioExample("a", np.array([0.5, 1 / 3]), 16000, 0).waveform.dtype == np.float32
    one_line_error(lambda: AudioExample("a", np.zeros(3, np.float32), 0, 0), "sampling_rate")
    one_line_error(lambda: AudioExample("a", np.zeros(0, np.float32), 16000, 0), "non-empty")


def test_file_errors_are_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "junk.png").write_bytes(b"not an image at all")
    one_line_error(lambda: read_image(bad / "junk.png"), "cannot read image", bad / "junk.png")
    (bad / "cut.png").write_bytes(png_bytes(np.zeros((64, 64, 3), np.uint8))[:60])
    one_line_error(lambda: read_image(bad / "cut.png"), "cannot read image", bad / "cut.png")
    (bad / "empty.png").touch()
    one_line_error(lambda: read_image(bad / "empty.png"), "is empty (0 bytes)", bad / "empty.png")
    (bad / "empty.wav").touch()
    one_line_error(lambda: read_audio(bad / "empty.wav"), "is empty (0 bytes)", bad / "empty.wav")
    silent = wav(bad / "silent.wav", np.zeros(0, np.int16))
    one_line_error(lambda: read_audio(silent), "has no samples", silent)
    (bad / "junk.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE broken")
    one_line_error(lambda: read_audio(bad / "junk.wav"), "cannot read audio", bad / "junk.wav")
    one_line_error(lambda: read_image(bad / "missing.png"), "cannot read", bad / "missing.png")
    # A format only soundfile reads, without soundfile (None in sys.modules fails the import).
    monkeypatch.setitem(sys.modules, "soundfile", None)
    (bad / "clip.flac").write_bytes(b"fLaC\x00\x00\x00\x22")
    message = one_line_error(lambda: read_audio(bad / "clip.flac"), bad / "clip.flac")
    assert message.endswith("needs the soundfile package: pip install 'ctxvec[audio]'")


def test_folder_errors(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    png(flat / "1.png", RED)
    one_line_error(lambda: load_image_dataset(flat), "has no class sub-folders", flat)
    texts = tmp_path / "texts"
    (texts / "cat").mkdir(parents=True)
    (texts / "cat" / "1.txt").write_text("a cat")
    one_line_error(lambda: load_image_dataset(texts), "no image files", texts, "cat")
    one_line_error(lambda: load_audio_dataset(flat), "has no class sub-folders", flat)
    twice = tmp_path / "twice"
    png(twice / "cat" / "1.png", RED)
    Image.fromarray(RED).save(twice / "cat" / "1.bmp")
    one_line_error(lambda: load_image_dataset(twice), "duplicate example id 'cat/1'", twice)
    broken = tmp_path / "broken"
    (broken / "cat").mkdir(parents=True)
    (broken / "cat" / "1.png").write_bytes(b"\x89PNG but not")
    one_line_error(lambda: load_image_dataset(broken), "cannot read image", broken / "cat/1.png")
    missing = tmp_path / "nowhere.parquet"
    one_line_error(lambda: load_image_dataset(missing), "does not exist", missing)


def test_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"img": [png_bytes(RED)], "label": [0]}).to_parquet(path)
    message = one_line_error(lambda: load_image_dataset(path), "lacks column(s) ['image']", path)
    assert "it has ['img', 'label']" in message
    pd.DataFrame({"image": ["x.png"]}).to_parquet(path)
    one_line_error(lambda: load_image_dataset(path), "lacks column(s) ['label']", path)
    cells = [png_bytes(RED), png_bytes(RED)]
    pd.DataFrame({"id": ["a", "a"], "image": cells, "label": [0, 1]}).to_parquet(path)
    one_line_error(lambda: load_image_dataset(path), "duplicate example id 'a'", path)
    pd.DataFrame({"image": ["gone.png"], "label": [0]}).to_parquet(path)
    one_line_error(lambda: load_image_dataset(path), "cannot read", tmp_path / "gone.png")
    pd.DataFrame({"image": [b"junk"], "label": [0]}).to_parquet(path)
    one_line_error(lambda: load_image_dataset(path), "cannot read image", path, "example '0'")
    pd.DataFrame({"image": [b""], "label": [0]}).to_parquet(path)
    one_line_error(lambda: load_image_dataset(path), "is empty (0 bytes)", path)
    pd.DataFrame({"image": [None], "label": [0]}).to_parquet(path)
    one_line_error(lambda: load_image_dataset(path), "has no image", path)
    row = {"audio": {"array": [], "sampling_rate": 8000}, "label": 0}
    (tmp_path / "a.jsonl").write_text(json.dumps(row))
    one_line_error(
        lambda: load_audio_dataset(tmp_path / "a.jsonl"), "has no samples", tmp_path / "a.jsonl"
    )
