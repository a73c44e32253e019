"""Synthetic sound clips of four kinds of source, with one knob for how hard they are.

See :mod:`ctxvec.offline.synth` for what the data is made to test.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from ctxvec.errors import CtxvecError
from ctxvec.offline.synth.common import balanced_classes, check_difficulty

AUDIO_CLASSES = ("tone", "chirp", "formant", "noise-burst")
# Each class's pitch in Hz (a tone's frequency, a chirp's geometric mid-frequency, a vowel's
# fundamental, a noise band's centre) is drawn log-uniformly from a range that moves, in
# log-frequency, from the first pair (apart: no two classes share a pitch) at difficulty 0 to
# the second (all four overlap between 300 and 400 Hz) at difficulty 1.
_PITCH = {
    "tone": ((300.0, 600.0), (100.0, 2400.0)),
    "chirp": ((1200.0, 2400.0), (150.0, 3000.0)),
    "formant": ((90.0, 160.0), (80.0, 400.0)),
    "noise-burst": ((3000.0, 5000.0), (300.0, 5000.0)),
}
_FADE_S = 0.01  # onset and offset ramps, so no clip starts or ends with a click


def make_audio(
    n_clips: int,
    seed: int = 0,
    difficulty: float = 0.5,
    sampling_rate: int = 16000,
    seconds: float = 1.0,
) -> tuple[list[np.ndarray], list[str]]:
    """Clips ``[n_samples]`` float32 in [-1, 1] and their class names, as many of each class.

    "tone" is a steady sinusoid; "chirp" a linear or logarithmic sweep, up or down, over one to
    two octaves; "formant" a vowel: a pulse train at the fundamental through two resonators at
    the first two formants; "noise-burst" one to three bursts of band-passed noise. Each clip is
    summed with white noise and peak-normalised to a random level. ``difficulty`` in [0, 1]
    lowers the signal-to-noise ratio (30 dB to -5 dB), moves each class's pitch range from its
    own band to one that overlaps the others', and spreads the clips' lengths (``seconds``
    times 1 +- 0.1 at 0, 1 +- 0.3 at 1), so lengths always differ.
    """
    check_difficulty(difficulty)
    if seconds <= 0:
        raise CtxvecError(f"clips must last longer than 0 seconds, got {seconds}")
    # The brightest class reaches about 7 kHz; below this rate it would alias.
    if sampling_rate < 16000:
        raise CtxvecError(f"the sampling rate must be at least 16000 Hz, got {sampling_rate}")
    rng = np.random.default_rng(seed)
    labels = balanced_classes(rng, AUDIO_CLASSES, n_clips, "clips")
    spread = 0.1 + 0.2 * difficulty
    snr_db = 30 - 35 * difficulty
    clips = []
    for label in labels:
        n = max(1, round(seconds * sampling_rate * rng.uniform(1 - spread, 1 + spread)))
        t = np.arange(n) / sampling_rate
        pitch = _pitch(rng, label, difficulty)
        wave = _SOURCES[label](rng, t, pitch, sampling_rate)
        wave = _fade(wave, round(_FADE_S * sampling_rate))
        wave = wave / (np.sqrt(np.mean(wave**2)) + 1e-12)
        noise = rng.normal(0, 10 ** (-snr_db / 20), size=n)
        mixed = wave + noise
        mixed *= rng.uniform(0.3, 0.9) / np.abs(mixed).max()
        clips.append(mixed.astype(np.float32))
    return clips, labels


def _pitch(rng: np.random.Generator, label: str, difficulty: float) -> float:
    easy, hard = np.log(_PITCH[label])
    low, high = (1 - difficulty) * easy + difficulty * hard
    return float(np.exp(rng.uniform(low, high)))


def _tone(rng: np.random.Generator, t: np.ndarray, pitch: float, sr: int) -> np.ndarray:
    return np.sin(2 * np.pi * pitch * t + rng.uniform(0, 2 * np.pi))


def _chirp(rng: np.random.Generator, t: np.ndarray, pitch: float, sr: int) -> np.ndarray:
    half_span = 2 ** (rng.uniform(1, 2) / 2)  # one to two octaves around the mid-frequency
    f0, f1 = pitch / half_span, pitch * half_span
    if rng.random() < 0.5:
        f0, f1 = f1, f0
    method = "linear" if rng.random() < 0.5 else "logarithmic"
    return signal.chirp(t, f0, t[-1] if len(t) > 1 else 1.0, f1, method=method)


def _formant(rng: np.random.Generator, t: np.ndarray, pitch: float, sr: int) -> np.ndarray:
    # A glottal-like source: one impulse per period (with a little jitter in the period).
    source = np.zeros(len(t))
    period = sr / pitch
    position = rng.uniform(0, period)
    while position < len(t):
        source[int(position)] = 1.0
        position += period * rng.uniform(0.98, 1.02)
    wave = source
    for low, high in ((300, 900), (900, 2500)):  # the first and second formant's ranges
        wave = _resonate(wave, rng.uniform(low, high), rng.uniform(60, 150), sr)
    return wave


def _noise_burst(rng: np.random.Generator, t: np.ndarray, pitch: float, sr: int) -> np.ndarray:
    band = (pitch / 2**0.5, min(pitch * 2**0.5, 0.45 * sr))  # an octave around the centre
    sos = signal.butter(4, band, btype="bandpass", fs=sr, output="sos")
    noise = signal.sosfilt(sos, rng.normal(size=len(t)))
    gate = np.zeros(len(t))
    for _ in range(rng.integers(1, 4)):
        length = round(rng.uniform(0.05, 0.25) * sr)
        start = rng.integers(0, max(1, len(t) - length))
        gate[start : start + length] = _fade(np.ones(min(length, len(t) - start)), sr // 200)
    return noise * gate


def _resonate(x: np.ndarray, frequency: float, bandwidth: float, sr: int) -> np.ndarray:
    """A two-pole resonator (a formant) at ``frequency`` Hz, ``bandwidth`` Hz wide."""
    r = np.exp(-np.pi * bandwidth / sr)
    a = [1.0, -2 * r * np.cos(2 * np.pi * frequency / sr), r**2]
    return signal.lfilter([1 - r], a, x)


def _fade(x: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(x) // 2)
    if n:
        ramp = np.linspace(0, 1, n)
        x = x.copy()
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


_SOURCES = {"tone": _tone, "chirp": _chirp, "formant": _formant, "noise-burst": _noise_burst}
