"""The synthetic image and audio benchmarks: deterministic, balanced, written in the layouts the
media loaders read, and harder as asked."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy.io import wavfile
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ctxvec.errors import CtxvecError
from ctxvec.offline import synth


def test_images_are_deterministic_balanced_and_uint8_rgb():
    images, labels = synth.make_images(8, seed=2, size=16)
    again, same_labels = synth.make_images(8, seed=2, size=16)
    assert labels == same_labels and all(
        np.array_equal(a, b) for a, b in zip(images, again, strict=True)
    )
    other, _ = synth.make_images(8, seed=3, size=16)
    assert not all(np.array_equal(a, b) for a, b in zip(images, other, strict=True))
    assert Counter(labels) == dict.fromkeys(synth.IMAGE_CLASSES, 2)
    for image in images:
        assert image.dtype == np.uint8 and image.shape == (16, 16, 3)


def test_images_written_as_an_image_folder(tmp_path):
    folder = synth.write_images(tmp_path / "images", 8, seed=1, difficulty=0.2, size=16)
    images, labels = synth.make_images(8, seed=1, difficulty=0.2, size=16)
    assert sorted(p.name for p in folder.iterdir()) == sorted(synth.IMAGE_CLASSES)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        with Image.open(folder / label / f"synth-img-{i:06d}.png") as png:
            assert png.format == "PNG" and png.mode == "RGB"
            assert np.array_equal(np.asarray(png), image)
    assert len(list(folder.glob("*/*.png"))) == 8
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind
    with pytest.raises(CtxvecError, match="not an empty folder"):
        synth.write_images(folder, 4)


def test_clips_are_deterministic_balanced_float32_and_of_varied_length():
    clips, labels = synth.make_audio(8, seed=2, seconds=0.2)
    again, same_labels = synth.make_audio(8, seed=2, seconds=0.2)
    assert labels == same_labels and all(
        np.array_equal(a, b) for a, b in zip(clips, again, strict=True)
    )
    other, _ = synth.make_audio(8, seed=3, seconds=0.2)
    assert not all(
        len(a) == len(b) and np.array_equal(a, b) for a, b in zip(clips, other, strict=True)
    )
    assert Counter(labels) == dict.fromkeys(synth.AUDIO_CLASSES, 2)
    for clip in clips:
        assert clip.dtype == np.float32 and clip.ndim == 1
        assert 0 < np.abs(clip).max() <= 1
        assert 0.7 * 3200 <= len(clip) <= 1.3 * 3200
    assert len({len(clip) for clip in clips}) > 1


def test_easy_clips_sit_in_their_class_band():
    """At difficulty 0 a tone's spectral peak lies in 300-600 Hz and a noise burst's energy
    mostly in 3000/sqrt(2) to 5000*sqrt(2) Hz (the ranges the module states)."""
    clips, labels = synth.make_audio(16, seed=0, difficulty=0.0, seconds=0.25)
    for clip, label in zip(clips, labels, strict=True):
        power = np.abs(np.fft.rfft(clip)) ** 2
        hz = np.fft.rfftfreq(len(clip), 1 / 16000)
        if label == "tone":
            assert 300 - 8 <= hz[power.argmax()] <= 600 + 8
        elif label == "noise-burst":
            band = (hz > 3000 / 2**0.5) & (hz < 5000 * 2**0.5)
            assert power[band].sum() / power.sum() > 0.9


def test_audio_written_as_datasets_stores_it(tmp_path):
    path = synth.write_audio(tmp_path / "audio.parquet", 4, seed=1, difficulty=0.3)
    clips, labels = synth.make_audio(4, seed=1, difficulty=0.3)
    schema = pq.read_schema(path)
    assert schema.names == ["id", "audio", "label"]
    assert str(schema.field("audio").type) == "struct<bytes: binary, path: string>"
    frame = pd.read_parquet(path)
    assert list(frame["label"]) == labels
    for row, clip in zip(frame.itertuples(), clips, strict=True):
        assert row.audio["path"] == f"{row.id}.wav"
        rate, samples = wavfile.read(io.BytesIO(row.audio["bytes"]))
        assert rate == 16000 and samples.dtype == np.int16
        assert np.array_equal(samples, np.round(clip * 32767).astype(np.int16))


def _cv_accuracy(features: np.ndarray, labels: list[str]) -> float:
    # Standardised and regularised: converges in a few iterations, so the test stays fast.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1))
    return float(cross_val_score(model, features, labels, cv=3).mean())


def _image_features(images: list[np.ndarray]) -> np.ndarray:
    """Log amplitude spectrum, pooled to 8 x 8, of each pixel's distance from the median colour:
    blind to where the shape sits, so a linear model can use it."""
    x = np.stack(images).astype(float) / 255
    distance = np.linalg.norm(x - np.median(x, axis=(1, 2), keepdims=True), axis=-1)
    spectrum = np.abs(np.fft.fft2(distance - distance.mean(axis=(1, 2), keepdims=True)))
    pooled = spectrum.reshape(len(x), 8, 4, 8, 4).mean(axis=(2, 4))
    return np.log(pooled.reshape(len(x), -1) + 1e-3)


def _audio_features(clips: list[np.ndarray], sampling_rate: int) -> np.ndarray:
    """Each clip's share of energy in 16 log-spaced bands from 50 Hz to Nyquist (log)."""
    edges = np.geomspace(50, sampling_rate / 2, 17)
    rows = []
    for clip in clips:
        power = np.abs(np.fft.rfft(clip)) ** 2
        band = np.digitize(np.fft.rfftfreq(len(clip), 1 / sampling_rate), edges)
        energy = np.bincount(band, weights=power, minlength=18)[1:17]
        rows.append(np.log(energy / energy.sum() + 1e-9))
    return np.array(rows)


def test_harder_images_are_harder_to_classify():
    accuracy = {}
    for difficulty in (0.1, 0.9):
        images, labels = synth.make_images(200, seed=0, difficulty=difficulty)
        accuracy[difficulty] = _cv_accuracy(_image_features(images), labels)
    assert accuracy[0.1] > 0.6 and accuracy[0.9] < accuracy[0.1] - 0.2, accuracy


def test_harder_clips_are_harder_to_classify():
    accuracy = {}
    for difficulty in (0.1, 0.9):
        clips, labels = synth.make_audio(200, seed=0, difficulty=difficulty, seconds=0.25)
        accuracy[difficulty] = _cv_accuracy(_audio_features(clips, 16000), labels)
    assert accuracy[0.1] > 0.9 and accuracy[0.9] < accuracy[0.1] - 0.2, accuracy


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: synth.make_images(6), "multiple of 4"),
        (lambda: synth.make_images(0), "multiple of 4"),
        (lambda: synth.make_images(4, difficulty=1.5), r"\[0, 1\]"),
        (lambda: synth.make_images(4, size=4), "at least 8"),
        (lambda: synth.make_audio(10), "multiple of 4"),
        (lambda: synth.make_audio(4, difficulty=-0.1), r"\[0, 1\]"),
        (lambda: synth.make_audio(4, sampling_rate=8000), "16000"),
        (lambda: synth.make_audio(4, seconds=0), "longer than 0"),
        (lambda: synth.write_audio("x.json", 4), ".parquet"),
    ],
)
def test_bad_arguments_are_user_errors(call, message):
    with pytest.raises(CtxvecError, match=message):
        call()
