"""The image and audio tasks against independent computations.

The digits study's scores equal scikit-learn's on its own predictions, which equal plain
transformers' arg-max on the model's own image processor's pixels; a long clip's windows
combine as a long QA context's (token-weighted means of the float64 formulas on each window's
plain hidden states; the prediction from the windows' mean logits); a clip at another rate is
resampled to the feature extractor's first.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from media_models import build_media_checkpoint
from sklearn.metrics import accuracy_score, f1_score
from transformers import AutoConfig

from ctxvec.data import AudioExample, MediaDataset, load_image_dataset, resample
from ctxvec.errors import ParameterError
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.study import StudyConfig, run_study
from ctxvec.tasks import get_task
from ctxvec.tasks.audio import AudioSettings, audio_feature, windows
from ctxvec.tasks.image import pixel_values
from ctxvec.tasks.media import MediaSettings

DIGITS = [str(d) for d in range(10)]


def _digits_vit(directory):
    """A tiny ViT with the digits' ten labels, trained for a few steps on 256 training digits so
    that its predictions spread over the classes (a random one's all agree)."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    path = build_media_checkpoint("vit", directory, num_labels=10)
    config = AutoConfig.from_pretrained(path)
    config.id2label = dict(enumerate(DIGITS))
    config.label2id = {d: i for i, d in enumerate(DIGITS)}
    model = AutoModelForImageClassification.from_pretrained(path, config=config)
    train = load_image_dataset("sklearn-digits", "train").examples[:256]
    processor = AutoImageProcessor.from_pretrained(path)
    pixels = processor(images=[e.image for e in train], return_tensors="pt")["pixel_values"]
    labels = torch.tensor([e.label for e in train])
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(40):
        batch = torch.arange(32) + 32 * (step % 8)
        loss = model(pixel_values=pixels[batch], labels=labels[batch]).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval().save_pretrained(path)
    return path


def test_the_digits_study_scores_are_sklearns_on_plain_transformers_predictions(tmp_path):
    path = _digits_vit(tmp_path / "vit")
    config = StudyConfig(
        task="image",
        models=(ModelSpec(str(path), "vit"),),
        data="sklearn-digits",
        subsets=2,
        subset_size=40,
        settings=MediaSettings(batch_size=16),
        device="cpu",
        dtype="float32",
        figures=(),
    )
    result = run_study(config, tmp_path / "run", progress=False, log=lambda *_: None)
    assert "accuracy" in result._repr_html_()  # the notebook view
    assert (tmp_path / "run" / "report.html").is_file()
    examples = pd.read_parquet(tmp_path / "run" / "examples.parquet")
    subsets = pd.read_csv(tmp_path / "run" / "subsets.csv")
    assert examples["prediction"].nunique() > 2  # the check below can tell classes apart
    for (_, k), rows in examples.groupby(["model", "subset"]):
        row = subsets[subsets["subset"] == k].iloc[0]
        assert row["accuracy"] == pytest.approx(
            100 * accuracy_score(rows["label"], rows["prediction"]), abs=1e-9
        )
        assert row["macro_f1"] == pytest.approx(
            100 * f1_score(rows["label"], rows["prediction"], average="macro"), abs=1e-9
        )
    models = pd.read_csv(tmp_path / "run" / "models.csv")
    every = accuracy_score(examples["label"], examples["prediction"])
    assert models["accuracy"].iloc[0] == pytest.approx(100 * every, abs=1e-9)
    # The predictions are plain transformers' on the model's own processor's pixels.
    lm = load_model(resolve_model(ModelSpec(str(path))), get_task("image").head, "cpu", "float32")
    digits = {e.id: e for e in load_image_dataset("sklearn-digits").examples}
    picked = examples.head(12)
    pixels = pixel_values(lm.processor, [digits[i].image for i in picked["id"]], 12)
    assert pixels.shape == (12, 3, 32, 32)  # 8 x 8 digits, upsampled by the processor
    with torch.no_grad():
        logits = lm.model(pixel_values=torch.from_numpy(pixels)).logits
    assert picked["prediction"].tolist() == logits.argmax(-1).tolist()
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["score"] == (
        "accuracy"
    )


@pytest.fixture(scope="module")
def wav2vec2(tmp_path_factory):
    path = build_media_checkpoint("wav2vec2", tmp_path_factory.mktemp("w2v") / "model")
    return load_model(resolve_model(ModelSpec(str(path))), get_task("audio").head, "cpu", "float32")


def test_a_long_clip_s_windows_combine_as_long_qa_contexts(wav2vec2, oracles) -> None:
    lm, task = wav2vec2, get_task("audio")
    rng = np.random.default_rng(1)
    clip = AudioExample("long", (0.1 * rng.standard_normal(30_000)).astype(np.float32), 16000, "a")
    settings = AudioSettings(window_seconds=0.5, stride_seconds=0.125)
    spans = windows(30_000, 8000, 2000)
    assert spans == [(0, 8000), (6000, 14000), (12000, 20000), (18000, 26000), (24000, 30000)]
    row = task.predict(lm, MediaDataset([clip], "test"), settings, progress=False).rows.iloc[0]
    assert row["n_windows"] == len(spans)
    values, counts, logits = {"variance": [], "cse": []}, [], []
    for start, end in spans:
        feature = audio_feature(lm, clip.waveform[start:end])
        inputs = {n: torch.as_tensor(feature[n])[None] for n in lm.input_names}
        with torch.no_grad():
            out = lm.model(**inputs, output_hidden_states=True)
        h = out.hidden_states[-1][0].double().numpy()  # every frame of an unpadded window
        counts.append(len(h))
        logits.append(out.logits[0].double().numpy())
        for name in values:
            values[name].append(getattr(oracles, name)(h))
    assert row["n_tokens"] == sum(counts)
    for name, per_window in values.items():
        assert row[name] == pytest.approx(np.average(per_window, weights=counts), abs=1e-5)
    assert row["prediction"] == int(np.argmax(np.mean(logits, 0)))


def test_a_clip_at_another_rate_is_resampled_to_the_extractor_s(wav2vec2) -> None:
    lm, task = wav2vec2, get_task("audio")
    wave = np.sin(2 * np.pi * 440 * np.arange(4000) / 8000).astype(np.float32)  # 0.5 s at 8 kHz
    rows = task.predict(
        lm, MediaDataset([AudioExample("slow", wave, 8000, "a")], "test"), AudioSettings(),
        progress=False,
    ).rows  # fmt: skip
    at_16k = audio_feature(lm, resample(wave, 8000, 16000))
    frames = int(lm.model._get_feat_extract_output_lengths(torch.tensor(at_16k["length"])))
    assert at_16k["length"] == 8000 and rows["n_tokens"].iloc[0] == frames


def test_a_model_holding_less_than_a_window_keeps_the_windows_proportions(tmp_path) -> None:
    """The tiny AST holds 1 s (100 frames of 10 ms): its windows are 1 s, overlapping by a
    fifth, as 10-s windows overlap by 2 s; a 3-s clip becomes 4 of them."""
    path = build_media_checkpoint("audio-spectrogram-transformer", tmp_path / "ast")
    lm = load_model(resolve_model(ModelSpec(str(path))), get_task("audio").head, "cpu", "float32")
    clip = AudioExample("c", np.zeros(48_000, np.float32), 16000, "a")
    features, owners = get_task("audio").features(lm, [clip], AudioSettings())
    assert windows(48_000, 16_000, 3_200) == [
        (0, 16000),
        (12800, 28800),
        (25600, 41600),
        (38400, 48000),
    ]
    assert owners == [(0, w) for w in range(4)] and len(features) == 4


@pytest.mark.parametrize(
    "options",
    [{"representation": "attention-output"}, {"stack": "decoder"}, {"skip_first": 1},
     {"token_weighting": "position"}, {"stride_seconds": 10.0}, {"window_seconds": 0.0}],
)  # fmt: skip
def test_options_that_mean_nothing_for_media_are_refused_in_one_line(options) -> None:
    with pytest.raises(ParameterError) as error:
        AudioSettings(**options)
    assert "\n" not in str(error.value) and next(iter(options)) in str(error.value)
