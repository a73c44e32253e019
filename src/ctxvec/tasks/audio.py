"""Audio classification behind the task contract: resampled, windowed, each model's features.

A clip is resampled to its model's feature extractor's rate (:func:`ctxvec.data.media.resample`)
and cut into windows of at most ``window_seconds`` (and at most what one input of the model
holds: AST's ``max_length`` frames, Whisper's 30-s chunk) overlapping by ``stride_seconds``, as
long QA contexts are cut; each window is one feature of the model's own feature extractor (raw
samples for Wav2Vec2-like models, log-mel frames for AST and Whisper). The measured tokens are
the model's frames of real audio (an encoder's frames of padding left out by its own lengths)
and AST's patches; the windows' metrics combine as QA's (:mod:`ctxvec.tasks.media`).

Left out: what every media task shares (:mod:`ctxvec.tasks.media`) and the frame-attention
drawings (:mod:`ctxvec.attention`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ctxvec.data import AudioExample, MediaDataset, load_audio_dataset, read_audio, resample
from ctxvec.errors import ParameterError
from ctxvec.loading import Head, LoadedModel
from ctxvec.tasks.base import Reading
from ctxvec.tasks.heads import EncodedInput, read_label
from ctxvec.tasks.media import MediaSettings, MediaTask


@dataclass(frozen=True)
class AudioSettings(MediaSettings):
    """The audio study's windows beside the media settings."""

    # Longest window for a model that takes any length: 10 s keeps a base-size Wav2Vec2's
    # 500 frames (attention grows with their square) within a laptop's memory at batch 32.
    window_seconds: float = 10.0
    # Overlap of consecutive windows, so that no sound is only ever seen at a window's edge
    # (the same share of a shorter window where the model holds less than window_seconds).
    stride_seconds: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.window_seconds > 0:
            raise ParameterError("window_seconds", f"{self.window_seconds} must be positive")
        if not 0 <= self.stride_seconds < self.window_seconds:
            raise ParameterError(
                "stride_seconds",
                f"{self.stride_seconds} must be at least 0 and shorter than the "
                f"{self.window_seconds}-s window",
            )


def windows(n_samples: int, window: int, stride: int) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges of at most ``window`` samples covering ``n_samples``,
    consecutive ones overlapping by ``stride``; the last may be shorter."""
    starts = [0]
    while starts[-1] + window < n_samples:
        starts.append(starts[-1] + window - stride)
    return [(s, min(s + window, n_samples)) for s in starts]


def window_samples(lm: LoadedModel, settings: AudioSettings) -> int:
    """The longest window in samples: ``window_seconds``, within what one input of the model
    holds."""
    window = int(settings.window_seconds * lm.media.sampling_rate)
    return min(window, lm.media.max_samples or window)


def first_window(lm: LoadedModel, example: AudioExample) -> np.ndarray:
    """The clip's first window at the model's rate (what the attention views read)."""
    wave = resample(example.waveform, example.sampling_rate, lm.media.sampling_rate)
    return wave[: window_samples(lm, AudioSettings())]


def log_spectrogram(waveform: np.ndarray, rate: int) -> np.ndarray:
    """``[frequencies, time]`` log10 power of 25-ms frames every 10 ms (the speech models'
    own framing), to draw frame attention over."""
    from scipy import signal

    per = min(max(int(0.025 * rate), 8), len(waveform))
    hop = max(min(int(0.010 * rate), per - 1), 1)
    _, _, power = signal.spectrogram(waveform, fs=rate, nperseg=per, noverlap=per - hop)
    return np.log10(power + 1e-10)


def audio_feature(lm: LoadedModel, waveform: np.ndarray) -> dict[str, Any]:
    """One window through the model's feature extractor: the model's inputs (its attention
    mask where it takes one) and the real ``length`` (the real samples or mel frames, from the
    extractor's attention mask where it makes one)."""
    rate = lm.media.sampling_rate
    out = lm.processor(
        waveform, sampling_rate=rate, return_tensors="np", return_attention_mask=True
    )
    feature = {n: np.asarray(out[n][0]) for n in lm.input_names}
    mask = out.get("attention_mask")
    first = next(iter(feature.values()))
    feature["length"] = int(mask[0].sum()) if mask is not None else first.shape[-1]
    return feature


class AudioTask(MediaTask):
    """Audio classification (:mod:`ctxvec.tasks.media` with audio clips)."""

    name = "audio"
    title = "Audio classification"
    description = "audio classification"
    settings_type = AudioSettings
    head = Head("AutoModelForAudioClassification", "audio-classification", modality="sound")
    input_fields = ("audio",)

    def load_data(self, source: str, split: str, strict: bool = False) -> MediaDataset:
        return load_audio_dataset(source, split)

    def features(
        self, lm: LoadedModel, examples: Sequence[AudioExample], settings: AudioSettings
    ) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
        rate, window = lm.media.sampling_rate, window_samples(lm, settings)
        # A model that holds less than window_seconds keeps the windows' proportions (QA's
        # rule): the overlap is the same share of its shorter window.
        stride = int(window * settings.stride_seconds / settings.window_seconds)
        features, owners = [], []
        for i, example in enumerate(examples):
            wave = resample(example.waveform, example.sampling_rate, rate)
            for w, (start, end) in enumerate(windows(len(wave), window, stride)):
                features.append(audio_feature(lm, wave[start:end]))
                owners.append((i, w))
        return features, owners

    def training_features(
        self,
        tokenizer: Any,
        examples: Sequence[AudioExample],
        dataset: MediaDataset,
        max_length: int,
        stride: int,
        unanswerable: bool = True,
    ) -> list[dict[str, Any]]:
        """One input per clip, made by ``tokenizer`` (the new model's feature extractor, as
        :func:`audio_feature` makes the study's) from the clip resampled to its rate, and its
        class id ``labels``. A clip is cut to the default window (:class:`AudioSettings`);
        AST's extractor keeps its first ``max_length`` frames, the study's first window.
        ``max_length``, ``stride`` and ``unanswerable`` are for text and QA."""
        ids = self.training_ids(dataset)
        rate = tokenizer.sampling_rate
        longest = int(AudioSettings().window_seconds * rate)
        features = []
        for e in examples:
            wave = resample(e.waveform, e.sampling_rate, rate)[:longest]
            out = tokenizer(
                wave, sampling_rate=rate, return_tensors="np", return_attention_mask=True
            )
            names = [n for n in tokenizer.model_input_names if n in out]
            features.append({**{n: np.asarray(out[n][0]) for n in names}, "labels": ids[e.label]})
        return features

    def encode_one(
        self, lm: LoadedModel, example: AudioExample, limit: int, truncate: bool = False
    ) -> EncodedInput:
        """The clip's first window (the attention views read one input)."""
        return EncodedInput(audio_feature(lm, first_window(lm, example)), None)

    def input_limit(self, settings: AudioSettings) -> tuple[int | None, bool]:
        return None, True  # a clip is cut into windows, never refused as too long

    def inputs_of(self, example: AudioExample) -> dict[str, Any]:
        return {"audio": (example.waveform, example.sampling_rate)}

    def read(self, lm: LoadedModel, inputs: Mapping[str, Any], limit: int) -> Reading:
        """The predicted label of one clip's first window (a path or ``(waveform, rate)``)
        and its probability."""
        audio = inputs["audio"]
        waveform, rate = read_audio(audio) if isinstance(audio, str) else audio
        example = AudioExample("input", waveform, rate, 0)
        encoded = self.encode_one(lm, example, limit)
        picture = log_spectrogram(first_window(lm, example), lm.media.sampling_rate)
        return Reading(encoded, *read_label(lm, encoded), picture=picture)
