"""Image and audio classification data: a class-per-folder tree, a table, the hub, or digits.

Sources, for :func:`load_image_dataset` and :func:`load_audio_dataset` alike:

- a folder in the ImageFolder/AudioFolder convention, one sub-folder per class
  (``root/cat/1.png``), or its split folder (``root/test/cat/1.png``);
- a parquet or JSON Lines table with an ``image`` (``audio``) and a ``label`` column as Hugging
  Face ``datasets`` stores them: ``{"bytes", "path"}`` cells or path strings, and for audio also
  ``{"array", "sampling_rate"}`` cells;
- a hub dataset id, read through ``datasets`` with the media column left undecoded;
- ``sklearn-digits`` (images only): scikit-learn's bundled 8x8 digits.

Images become uint8 RGB arrays ``[height, width, 3]`` at their own size; audio becomes float32
mono waveforms ``[n_samples]`` in [-1, 1] at their own rate. WAV is read with
:mod:`scipy.io.wavfile`, other audio formats with ``soundfile`` (the ``audio`` extra). Malformed
input raises :class:`~ctxvec.errors.CtxvecError` with one line naming the file.

Left out: resizing, normalising and feature extraction (each model's own processor, in the task
modules), and resampling a clip to a model's rate, which the audio task does with
:func:`resample`.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ctxvec.data.examples import fingerprint
from ctxvec.data.sources import (
    check_unique_ids,
    load_hub,
    looks_like_path,
    read_table,
    table_labels,
)
from ctxvec.errors import CtxvecError, first_line, require_at_least

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg"})
DIGITS = "sklearn-digits"

# What PIL raises for a file it cannot decode: unknown or broken formats are OSErrors
# (UnidentifiedImageError among them), some broken headers ValueErrors or SyntaxErrors, a
# truncated GIF an EOFError, a huge image DecompressionBombError.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
# What scipy's WAV reader raises for a malformed header: mostly ValueErrors, but (scipy 1.17)
# also struct errors, TypeErrors, ZeroDivisionErrors and UnboundLocalErrors (NameErrors).
_WAV_ERRORS = (ValueError, TypeError, EOFError, OSError, struct.error, ArithmeticError, NameError)


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value to compare by
class ImageExample:
    """One image to classify: uint8 RGB ``image`` ``[height, width, 3]`` and its label as the
    dataset gives it (int or name)."""

    id: str
    image: np.ndarray
    label: int | str

    def __post_init__(self) -> None:
        a = self.image
        if not (isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3):
            raise _not_array(self.id, a, "a uint8 [height, width, 3] RGB array")
        if a.shape[2] != 3 or not a.shape[0] or not a.shape[1]:
            raise _not_array(self.id, a, "a uint8 [height, width, 3] RGB array")


@dataclass(frozen=True, eq=False)
class AudioExample:
    """One clip to classify: float32 mono ``waveform`` ``[n_samples]`` in [-1, 1] (other float
    precisions are converted), its ``sampling_rate`` in Hz, and its label as the dataset gives
    it (int or name)."""

    id: str
    waveform: np.ndarray
    sampling_rate: int
    label: int | str

    def __post_init__(self) -> None:
        a = self.waveform
        # Samples in another float precision are the same clip; integers would need a scale.
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != np.float32:
            a = a.astype(np.float32)
            object.__setattr__(self, "waveform", a)
        if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.ndim == 1 and a.size):
            raise _not_array(self.id, a, "a non-empty float32 [n_samples] waveform")
        require_at_least("sampling_rate", self.sampling_rate)


def _not_array(eid: str, a: object, wanted: str) -> CtxvecError:
    got = f"{a.dtype} {list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
    return CtxvecError(f"example '{eid}' must hold {wanted}, got {got}")


@dataclass
class MediaDataset:
    """Images or clips with labels, their source, a content fingerprint, and notes for the user.

    The fingerprint hashes each example's id, label and array (its shape, dtype and a sha256
    of its bytes; an audio clip's sampling rate too) and the label names.
    """

    examples: list[ImageExample] | list[AudioExample]
    source: str
    # Names of the labels when the source knows them (class folders, hub ClassLabel, digits).
    label_names: list[str] | None = None
    fingerprint: str = field(default="")
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(
                [(e.id, e.label, *_content(e)) for e in self.examples] + [self.label_names]
            )

    def __len__(self) -> int:
        return len(self.examples)


def _content(example: ImageExample | AudioExample) -> tuple:
    """An example's array as (shape, dtype, sha256), and an audio clip's sampling rate."""
    a = example.image if isinstance(example, ImageExample) else example.waveform
    digest = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
    rate = (example.sampling_rate,) if isinstance(example, AudioExample) else ()
    return (list(a.shape), str(a.dtype), digest, *rate)


def load_image_dataset(source: str | Path, split: str = "test") -> MediaDataset:
    """Load image-classification data from a folder, a table, the hub, or ``sklearn-digits``.

    Args:
        source: a folder with one sub-folder of images per class (``root/cat/1.png``; the class
            folder's name is the label, ids are paths below ``root`` without the suffix), a
            parquet/JSONL file with ``image`` and ``label`` columns (an ``id`` column is used
            when present, else the row number), a hub dataset id, or ``sklearn-digits``:
            scikit-learn's 1,797 bundled 8x8 digits (0..16 scaled to 0..255, grey as RGB,
            labels 0..9).
        split: the hub split, or the split folder of a class-folder root (``root/test/cat``);
            ignored for a table. ``sklearn-digits``: ``train`` (its first 1,197 digits),
            ``test`` (the last 600) or ``all``, so that a zoo trained on one is studied on
            the other.

    Grayscale, palette and RGBA images are converted to RGB (the alpha channel is dropped);
    an animated image gives its first frame. Images keep their size.
    """
    if str(source) == DIGITS and not Path(source).exists():
        return _digits(split)
    return _load(source, split, _IMAGE)


def load_audio_dataset(source: str | Path, split: str = "test") -> MediaDataset:
    """Load audio-classification data from a folder, a table, or the hub.

    Args:
        source: a folder with one sub-folder of clips per class (``root/dog/1.wav``; the class
            folder's name is the label, ids are paths below ``root`` without the suffix), a
            parquet/JSONL file with ``audio`` and ``label`` columns (an ``id`` column is used
            when present, else the row number), or a hub dataset id.
        split: the hub split, or the split folder of a class-folder root (``root/test/dog``);
            ignored for a table.

    Clips keep the rate of their files (a hub ``Audio`` feature's own ``sampling_rate`` is not
    applied: the audio task resamples to its model's rate); channels are averaged to mono.
    """
    return _load(source, split, _AUDIO)


def read_image(path: str | Path) -> np.ndarray:
    """One image file as uint8 RGB ``[height, width, 3]``."""
    path = Path(path)
    return _decode_image(_read_file(path), f"'{path}'")


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """One audio file as a float32 mono waveform ``[n_samples]`` in [-1, 1] and its rate."""
    path = Path(path)
    return _decode_audio(_read_file(path), f"'{path}'", path.suffix.lower())


def resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """A waveform ``[n_samples]`` at ``rate`` Hz resampled to ``target`` Hz, as float32
    ``[ceil(n_samples * target / rate)]`` (polyphase filtering, :func:`scipy.signal.resample_poly`).
    """
    require_at_least("rate", rate)
    require_at_least("target", target)
    if rate == target:
        return np.asarray(waveform, dtype=np.float32)
    import scipy.signal  # imported lazily: it takes seconds, and only the audio task needs it

    g = math.gcd(rate, target)
    return scipy.signal.resample_poly(waveform, target // g, rate // g).astype(np.float32)


@dataclass(frozen=True)
class _Kind:
    """What differs between image and audio data: the column, the suffixes, the decoder."""

    column: str  # the table column, and the word messages use
    suffixes: frozenset[str]
    example_file: str  # a file in a class folder, for messages
    # (id, encoded file, the name messages give it (quoted), its suffix, label) -> example
    example: Callable[[str, bytes, str, str, int | str], ImageExample | AudioExample]


def _image_example(eid: str, data: bytes, name: str, suffix: str, label: int | str) -> ImageExample:
    return ImageExample(eid, _decode_image(data, name), label)


def _audio_example(eid: str, data: bytes, name: str, suffix: str, label: int | str) -> AudioExample:
    waveform, rate = _decode_audio(data, name, suffix)
    return AudioExample(eid, waveform, rate, label)


_IMAGE = _Kind("image", IMAGE_SUFFIXES, "cat/1.png", _image_example)
_AUDIO = _Kind("audio", AUDIO_SUFFIXES, "dog/1.wav", _audio_example)


def _load(source: str | Path, split: str, kind: _Kind) -> MediaDataset:
    path = Path(source)
    if path.is_dir():
        return _read_class_folders(path, split, kind)
    if path.exists():
        table = read_table(path)
        return _from_table(table, str(path.resolve()), path.resolve().parent, kind)
    if looks_like_path(str(source)):
        raise CtxvecError(f"{kind.column} data '{source}' does not exist; check the path")
    table = load_hub(str(source), split, undecoded=kind.column)
    return _from_table(table, f"hub:{source}", None, kind)


def _read_class_folders(path: Path, split: str, kind: _Kind) -> MediaDataset:
    root = path / split if _class_folders(path / split) else path
    classes = _class_folders(root)
    if not classes:
        raise CtxvecError(
            f"folder '{path}' has no class sub-folders; give one sub-folder of {kind.column} "
            f"files per class (e.g. '{path / kind.example_file}') or a "
            "parquet/JSONL file"
        )
    # Only files directly inside a class folder, and no hidden ones (macOS's ._ companions
    # carry the suffix of the file they describe).
    files = sorted(
        (f.relative_to(root).as_posix(), f)
        for c in classes
        for f in c.iterdir()
        if f.suffix.lower() in kind.suffixes and not f.name.startswith(".") and f.is_file()
    )
    if not files:
        raise CtxvecError(
            f"folder '{root}' has no {kind.column} files ({', '.join(sorted(kind.suffixes))}) "
            f"directly inside its class sub-folders ({', '.join(c.name for c in classes)})"
        )
    ids = [Path(rel).with_suffix("").as_posix() for rel, _ in files]
    check_unique_ids(ids, f"folder '{root}'")
    examples = [
        kind.example(eid, _read_file(f), f"'{f}'", f.suffix.lower(), f.parent.name)
        for eid, (_, f) in zip(ids, files, strict=True)
    ]
    names = sorted({f.parent.name for _, f in files})
    empty = [c.name for c in classes if c.name not in names]
    notes = (
        (f"class folder(s) {', '.join(empty)} hold no {kind.column} files and are left out",)
        if empty
        else ()
    )
    return MediaDataset(examples, source=str(root.resolve()), label_names=names, notes=notes)


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def _from_table(table: pd.DataFrame, source: str, base: Path | None, kind: _Kind) -> MediaDataset:
    missing = {kind.column, "label"} - set(table.columns)
    if missing:
        raise CtxvecError(
            f"{source} lacks column(s) {sorted(missing)}; {kind.column} data needs "
            f"'{kind.column}' and 'label' columns, it has {[str(c) for c in table.columns]}"
        )
    if table.empty:
        raise CtxvecError(f"{source} has no rows; give a table with at least one example")
    if table["label"].isna().any():
        raise CtxvecError(f"{source} has empty 'label' values; fill or drop those rows")
    if "id" in table.columns:
        ids = table["id"].astype(str).tolist()
    else:
        ids = [str(i) for i in range(len(table))]
    check_unique_ids(ids, source)
    labels = table_labels(table["label"].tolist(), source)
    examples = []
    for eid, cell, label in zip(ids, table[kind.column].tolist(), labels, strict=True):
        where = f"{source} example '{eid}'"
        if kind is _AUDIO and isinstance(cell, dict) and cell.get("array") is not None:
            examples.append(_audio_from_array(eid, cell, where, label))
            continue
        examples.append(kind.example(eid, *_cell_file(cell, base, where, kind.column), label))
    label_names = table.attrs.get("label_names") if isinstance(labels[0], int) else None
    return MediaDataset(examples, source=source, label_names=label_names)


def _cell_file(cell: object, base: Path | None, where: str, column: str) -> tuple[bytes, str, str]:
    """The encoded file a table cell holds or points to, the name messages give it (quoted),
    and its suffix."""
    data, path = None, None
    if isinstance(cell, dict):
        data, path = cell.get("bytes"), cell.get("path")
    elif isinstance(cell, (bytes, bytearray)):
        data = cell
    elif isinstance(cell, str):
        path = cell
    elif cell is None or (isinstance(cell, float) and math.isnan(cell)):
        pass  # an empty cell: the message below
    else:
        raise CtxvecError(
            f"{where}: '{column}' must be a file path or a {{'bytes', 'path'}} record, "
            f"got {type(cell).__name__}"
        )
    path = path if isinstance(path, str) and path else None
    suffix = Path(path).suffix.lower() if path else ""
    if data is not None:
        if not isinstance(data, (bytes, bytearray)):
            raise CtxvecError(f"{where}: '{column}' bytes are {type(data).__name__}, not binary")
        return bytes(data), f"'{path}' of {where}" if path else where, suffix
    if path is None:
        raise CtxvecError(f"{where} has no {column}: neither bytes nor a path; fill or drop it")
    file = Path(path).expanduser()
    # A relative path is relative to the table's folder, as `datasets` writes them.
    if base is not None and not file.is_absolute():
        file = base / file
    return _read_file(file), f"'{file}'", suffix


def _audio_from_array(eid: str, cell: dict, where: str, label: int | str) -> AudioExample:
    """A decoded clip ``{"array", "sampling_rate"}`` (mono samples) as an example."""
    try:
        waveform = np.asarray(cell["array"], dtype=np.float32)
        rate = int(cell.get("sampling_rate"))
    except (TypeError, ValueError):
        raise CtxvecError(
            f"{where}: an 'array' record needs a list of samples and an integer 'sampling_rate'"
        ) from None
    if waveform.ndim != 1:
        raise CtxvecError(f"{where}: 'array' must be mono samples, got shape {waveform.shape}")
    if not waveform.size:
        raise CtxvecError(f"audio of {where} has no samples; remove it")
    if rate < 1:
        raise CtxvecError(f"{where}: 'sampling_rate' must be positive, got {rate}")
    return AudioExample(eid, waveform, rate, label)


def _read_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CtxvecError(f"cannot read '{path}': {e.strerror or first_line(e)}") from None
    return data


def _decode_image(data: bytes, name: str) -> np.ndarray:
    if not data:
        raise CtxvecError(f"image {name} is empty (0 bytes); replace or remove it")
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = im.convert("RGB")
    except _IMAGE_ERRORS as e:
        raise CtxvecError(
            f"cannot read image {name}: {first_line(e)}; replace or remove it"
        ) from None
    return np.array(rgb, dtype=np.uint8)


def _decode_audio(data: bytes, name: str, suffix: str) -> tuple[np.ndarray, int]:
    """Samples ``[n_samples]`` (channels averaged) in [-1, 1] and the rate of an encoded file."""
    if not data:
        raise CtxvecError(f"audio {name} is empty (0 bytes); replace or remove it")
    if suffix == ".wav" or (data[:4] in (b"RIFF", b"RIFX", b"RF64") and data[8:12] == b"WAVE"):
        samples, rate = _wav(data, name)
    else:
        samples, rate = _soundfile(data, name)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if not samples.size:
        raise CtxvecError(f"audio {name} has no samples; remove it")
    if rate < 1:
        raise CtxvecError(f"audio {name} gives a sampling rate of {rate} Hz; replace or remove it")
    return samples.astype(np.float32), rate


def _wav(data: bytes, name: str) -> tuple[np.ndarray, int]:
    import scipy.io.wavfile  # imported lazily, as scipy.signal: only audio needs it

    try:
        with warnings.catch_warnings():
            # Chunks scipy skips (LIST, fact, ...) are metadata, not a problem with the clip.
            warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
            rate, x = scipy.io.wavfile.read(io.BytesIO(data))
    except _WAV_ERRORS as e:
        raise CtxvecError(
            f"cannot read audio {name}: {first_line(e)}; replace or remove it"
        ) from None
    # Integer PCM to [-1, 1]: unsigned 8-bit is offset by 128, signed formats (24-bit ones come
    # left-justified in int32) are divided by their full scale; float WAV is stored in [-1, 1].
    if x.dtype == np.uint8:
        x = (x.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(x.dtype, np.signedinteger):
        x = x.astype(np.float64) / -float(np.iinfo(x.dtype).min)
    return x.astype(np.float32), int(rate)


def _soundfile(data: bytes, name: str) -> tuple[np.ndarray, int]:
    try:
        import soundfile  # optional: the `audio` extra, for every format but WAV
    except ImportError:
        raise CtxvecError(
            f"reading {name} needs the soundfile package: pip install 'ctxvec[audio]'"
        ) from None
    try:
        x, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    # libsndfile's errors are RuntimeErrors (soundfile.LibsndfileError).
    except (RuntimeError, ValueError, TypeError) as e:
        raise CtxvecError(
            f"cannot read audio {name}: {first_line(e)}; replace or remove it"
        ) from None
    return x, int(rate)


# sklearn-digits' splits: index ranges of its 1,797 digits (two thirds to train).
DIGITS_SPLITS = {"train": slice(0, 1197), "test": slice(1197, 1797), "all": slice(0, 1797)}


def _digits(split: str) -> MediaDataset:
    from sklearn.datasets import load_digits  # imported lazily: only this source needs it

    if split not in DIGITS_SPLITS:
        raise CtxvecError(
            f"{DIGITS} has the splits {', '.join(DIGITS_SPLITS)}, not '{split}'; pick one"
        )

    digits = load_digits()
    # 0..16 grey levels to 0..255, as RGB: [1797, 8, 8] -> [1797, 8, 8, 3].
    grey = np.round(digits.images * (255 / 16)).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    examples = [
        ImageExample(f"digits-{i:04d}", rgb[i], int(label)) for i, label in enumerate(digits.target)
    ][DIGITS_SPLITS[split]]
    return MediaDataset(
        examples, source=f"{DIGITS}:{split}", label_names=[str(d) for d in range(10)]
    )
