"""Datasets for the tasks, and the seeded subsets a study draws from them.

QA data comes from the hub (``squad_v2``) or a local file: the official SQuAD JSON format
(v1.1 or v2.0, ``data[].paragraphs[].qas[]``) or the hub's flat squad schema
(``id, title, context, question, answers{text, answer_start}``) as parquet or JSON Lines.
Classification data comes from the hub (``imdb``), a local parquet/CSV/JSONL file with ``text``
and ``label`` columns, or an ``aclImdb``-style folder (``pos/*.txt``, ``neg/*.txt``). Image and
audio classification data comes from a class-per-folder tree, a table of encoded files, the hub,
or (images) scikit-learn's bundled digits (:mod:`ctxvec.data.media`).

Every loader returns the same small container (:class:`QADataset`, :class:`TextDataset` or
:class:`MediaDataset`) with a content fingerprint, so downstream code never special-cases a
source. Malformed input raises :class:`~ctxvec.errors.CtxvecError` with one line. Tokenisation,
length filtering and the label mapping to a model belong to the task modules, not here; which
loader a task uses is the task's own (:meth:`ctxvec.tasks.base.Task.load_data`).
"""

from __future__ import annotations

from ctxvec.data.examples import (
    Dataset,
    Example,
    QADataset,
    QAExample,
    TextDataset,
    TextExample,
    fingerprint,
)
from ctxvec.data.media import (
    AudioExample,
    ImageExample,
    MediaDataset,
    load_audio_dataset,
    load_image_dataset,
    read_audio,
    read_image,
    resample,
)
from ctxvec.data.qa import load_qa_dataset
from ctxvec.data.subsets import select_subsets
from ctxvec.data.text import load_text_dataset

__all__ = [
    "AudioExample",
    "Dataset",
    "Example",
    "ImageExample",
    "MediaDataset",
    "QADataset",
    "QAExample",
    "TextDataset",
    "TextExample",
    "fingerprint",
    "load_audio_dataset",
    "load_image_dataset",
    "load_qa_dataset",
    "load_text_dataset",
    "read_audio",
    "read_image",
    "resample",
    "select_subsets",
]
