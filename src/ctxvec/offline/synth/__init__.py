"""A built-in benchmark: deterministic synthetic QA and review-classification data.

:func:`make_qa` builds official SQuAD 2.0 JSON: paragraphs about two fictional people (names,
cities, companies and jobs from Faker), each fact stated in one of several phrasings, and
questions of five kinds (who / where / when / what / how many) in paraphrased forms. The other
person's facts are distractors carrying the same kind of answer, so picking the span needs
reading the names. A share of the questions (a third by default) is unanswerable in the SQuAD 2.0
style: it asks about a fact the paragraph leaves out for that person while stating it for the
other one, or about a person or company the paragraph never mentions. Every answer's character
offset is checked against its context before anything is written.

:func:`make_cls` builds a table (written as parquet) of ``id``, ``text``, ``label`` (0 negative,
1 positive, as IMDB): film reviews of several aspect clauses whose polarity is flipped by
negation ("I would not call the plot engaging"), scaled by intensifiers and hedges, and
reweighted by contrast ("... but ..."): the clause after "but" counts three times as much as the
one before. The label is the sign of the weighted sum, so counting positive and negative words
is not enough. Classes are exactly balanced; optional label noise flips the same number of
labels in each class.

Both are deterministic for a seed (Faker and ``random.Random`` are seeded, the Faker version is
pinned, and Faker's date providers, which draw relative to today, are not used) and are read
back by the study's own loaders. Deliberately left out: other languages, multi-sentence answers,
several gold answers per question, and any claim of realism beyond "needs reading": this is a
controlled benchmark, not a substitute for real data.

:func:`make_images` and :func:`make_audio` are the media counterparts, four balanced classes
each with one ``difficulty`` knob in [0, 1]: RGB images of a circle, square, triangle or striped
patch over a noisy background (written as an image folder, ``<class>/<id>.png``), and clips of
a tone, a chirp, a vowel-like formant sound or noise bursts (written as parquet with the audio
as Hugging Face ``datasets`` stores it: ``{"bytes": <16-bit WAV>, "path": "<id>.wav"}``). They
are deterministic for a seed (one numpy ``Generator``). Left out: natural images and sounds,
several objects or sources per label, and labels that need more than one look or listen.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.io import wavfile

from ctxvec import files
from ctxvec.errors import CtxvecError
from ctxvec.offline.synth.audio import AUDIO_CLASSES, make_audio
from ctxvec.offline.synth.cls import make_cls
from ctxvec.offline.synth.images import IMAGE_CLASSES, make_images
from ctxvec.offline.synth.qa import check_offsets, make_qa

__all__ = [
    "AUDIO_CLASSES",
    "IMAGE_CLASSES",
    "check_offsets",
    "make_audio",
    "make_cls",
    "make_images",
    "make_qa",
    "write_audio",
    "write_cls",
    "write_images",
    "write_qa",
]


def write_qa(
    path: str | Path, n_questions: int, seed: int = 0, unanswerable: float = 1 / 3
) -> Path:
    """Generate with :func:`make_qa` and write SQuAD 2.0 JSON to ``path`` (atomically)."""
    path = Path(path)
    if path.suffix != ".json":
        raise CtxvecError(f"QA data is written as SQuAD JSON; give a .json path, not '{path}'")
    files.write_json(path, make_qa(n_questions, seed, unanswerable))
    return path


def write_cls(path: str | Path, n_texts: int, seed: int = 0, label_noise: float = 0.0) -> Path:
    """Generate with :func:`make_cls` and write parquet to ``path`` (atomically)."""
    path = Path(path)
    if path.suffix != ".parquet":
        raise CtxvecError(
            f"classification data is written as parquet; give a .parquet path, not '{path}'"
        )
    files.write_parquet(path, make_cls(n_texts, seed, label_noise))
    return path


def write_images(
    path: str | Path, n_images: int, seed: int = 0, difficulty: float = 0.5, size: int = 32
) -> Path:
    """Generate with :func:`make_images` and write the folder ``path/<class>/<id>.png``.

    The folder is filled beside ``path`` and renamed into place, so ``path`` holds either the
    whole set or nothing; it must not exist yet, or be empty, so that no older images mix in.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise CtxvecError(f"'{path}' already exists and is not an empty folder; give a new one")
    images, labels = make_images(n_images, seed, difficulty, size)
    files.make_folder(path.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp{os.getpid()}-", dir=path.parent))
    except OSError as e:
        raise files.os_error(e, path) from None
    try:
        for label in IMAGE_CLASSES:
            (tmp / label).mkdir()
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(image).save(tmp / label / f"{_id('img', i)}.png")
        os.chmod(tmp, 0o755)  # mkdtemp makes folders private; data is meant to be shared
        os.replace(tmp, path)  # replaces an empty folder too
    except OSError as e:
        raise files.os_error(e, path) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def write_audio(
    path: str | Path,
    n_clips: int,
    seed: int = 0,
    difficulty: float = 0.5,
    sampling_rate: int = 16000,
) -> Path:
    """Generate with :func:`make_audio` and write parquet to ``path`` (atomically).

    Columns: ``id``; ``audio``, ``{"bytes": <16-bit mono WAV file>, "path": "<id>.wav"}`` as
    Hugging Face ``datasets`` stores an audio column; ``label``, the class name.
    """
    path = Path(path)
    if path.suffix != ".parquet":
        raise CtxvecError(f"audio data is written as parquet; give a .parquet path, not '{path}'")
    clips, labels = make_audio(n_clips, seed, difficulty, sampling_rate)
    ids = [_id("audio", i) for i in range(n_clips)]
    audio = [
        {"bytes": _wav(clip, sampling_rate), "path": f"{i}.wav"}
        for i, clip in zip(ids, clips, strict=True)
    ]
    files.write_parquet(path, pd.DataFrame({"id": ids, "audio": audio, "label": labels}))
    return path


def _id(kind: str, i: int) -> str:
    return f"synth-{kind}-{i:06d}"


def _wav(clip: np.ndarray, sampling_rate: int) -> bytes:
    """A WAV file's bytes: ``clip`` (float in [-1, 1]) as 16-bit PCM."""
    buffer = io.BytesIO()
    wavfile.write(buffer, sampling_rate, np.round(clip * 32767).astype(np.int16))
    return buffer.getvalue()
