"""The task contract: what a task of a study owns, behind one base class.

A :class:`Task` holds everything that differs between tasks: its settings type, how it reads
and pools its data, the head its models carry, how it encodes and predicts (one batched pass
through :func:`~ctxvec.inference.forward.run_forward`), how it scores a subset and a model, its
output columns, and its titles. The study, the attention views, the zoo and the command line
call these methods and never ask which task they hold. :mod:`ctxvec.tasks.registry` finds a
task by its name; :mod:`~ctxvec.tasks.qa` and :mod:`~ctxvec.tasks.classify` are the two built
in, and ``tests/tasks/test_custom_task.py`` adds a third without touching ``src/``.

Left out: the metrics (every task measures the same context vectors, ``ctxvec.metrics``) and
where units run (``ctxvec.study``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ctxvec.data import Dataset, Example
from ctxvec.errors import CtxvecError
from ctxvec.inference.forward import Keep, PassSettings
from ctxvec.inference.summaries import PooledSample
from ctxvec.loading import Head, LoadedModel
from ctxvec.tasks.heads import EncodedInput


@dataclass
class Predictions:
    """What :meth:`Task.predict` returns for a block of examples.

    Attributes:
        rows: one row per example that ran (``id`` first; columns in ``docs/outputs.md``).
        skipped: ids left out (baseline-compat mode), never silently.
        sample: the pooled sample of the subset-level metrics (None with ``metrics="core"``).
        layers: the extra layers measured.
        kernels: the CPU kernels used.
        state: what the task's scoring needs of the model beyond the rows, JSON-serialisable
            (classification: the model's positive label id).
    """

    rows: pd.DataFrame
    skipped: list[str]
    sample: PooledSample | None = None
    layers: tuple[int, ...] = ()
    kernels: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reading:
    """One input read on the eager path for the attention views: the task's prediction
    (``prediction``, its ``probability``; QA: the answer's token ``span`` and ``na_prob``)
    beside the encoded input and the model's output with its attentions; an image or audio
    task's ``picture`` to draw the attention over (the image ``[h, w, 3]``, the window's
    spectrogram ``[frequencies, time]``)."""

    encoded: EncodedInput
    output: Any
    prediction: str
    probability: float
    span: tuple[int, int] | None = None
    na_prob: float | None = None
    picture: np.ndarray | None = None


class Task(ABC):
    """One task: subclass it, set the class attributes, implement the abstract methods, and
    register an instance (:func:`ctxvec.tasks.registry.register_task`).

    Attributes:
        name: the registry key (``qa``), as ``StudyConfig.task`` and the command line name it.
        title: figure titles (``SQuAD-style QA``).
        description: the report's one-line description of the task and its scoring.
        settings_type: the task's settings, a :class:`~ctxvec.inference.forward.PassSettings`.
        head: the transformers head class its models are loaded with.
        keep: what the forward pass keeps of the head's output.
        default_split: the hub split read when none is given.
        default_subsets: ``(K, size)`` when the config gives none.
        scores: the scores a study may correlate, the default first (``subsets.csv``, x100).
        columns: ``subsets.csv``'s task columns between ``n_skipped`` and the metrics.
        input_fields: the keyword arguments of one input for the attention views.
        labelled: its examples carry class labels (the separability metrics apply).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    settings_type: ClassVar[type[PassSettings]]
    head: ClassVar[Head]
    keep: ClassVar[Keep]
    default_split: ClassVar[str]
    default_subsets: ClassVar[tuple[int, int]]
    scores: ClassVar[tuple[str, ...]]
    columns: ClassVar[tuple[str, ...]]
    input_fields: ClassVar[tuple[str, ...]]
    labelled: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    def __reduce__(self) -> tuple:
        # A task travels (to a Ray worker, into a cache key) as its class: it holds no state.
        return (type(self), ())

    # Data ---------------------------------------------------------------------------------
    @abstractmethod
    def load_data(self, source: str, split: str, strict: bool = False) -> Dataset:
        """The task's dataset (examples, ``source``, ``fingerprint``, ``notes``) from a local
        file or the hub; a malformed source is one :class:`~ctxvec.errors.CtxvecError` line.
        ``strict`` is the task's stricter reading, where it has one."""

    def pool(self, dataset: Dataset, settings: PassSettings) -> list[Example]:
        """The examples the subsets are drawn from (default: all of them)."""
        return list(dataset.examples)

    def part(self, dataset: Dataset, examples: Sequence[Example]) -> Dataset:
        """A dataset of the same kind holding only ``examples`` (what a shard carries)."""
        return type(dataset)(list(examples), dataset.source, fingerprint=dataset.fingerprint)

    def find_example(self, dataset: Dataset, example_id: str) -> Example | None:
        """The example with this id, or None."""
        return next((e for e in dataset.examples if e.id == example_id), None)

    # The pass -----------------------------------------------------------------------------
    @abstractmethod
    def predict(
        self,
        lm: LoadedModel,
        dataset: Dataset,
        settings: PassSettings,
        progress: bool = True,
        first_example: int = 0,
        reference: Dataset | None = None,
    ) -> Predictions:
        """Encode ``dataset``'s examples, run them through the model in one batched pass,
        predict and score each and measure its context vectors. ``first_example`` is the
        index of the first example in its unit (a shard seeds its token sample as the unit).
        ``reference`` (given only with ``settings.standardise``): examples encoded as
        ``dataset``'s and passed to :func:`~ctxvec.inference.forward.run_forward` as its
        ``reference``; a task that never standardises may leave the parameter out."""

    # Scores -------------------------------------------------------------------------------
    @abstractmethod
    def subset_scores(
        self, rows: pd.DataFrame, settings: PassSettings, state: Mapping[str, Any]
    ) -> dict[str, float]:
        """The values of :attr:`columns` for one subset's rows (scores x100)."""

    @abstractmethod
    def model_scores(self, rows: pd.DataFrame, state: Mapping[str, Any]) -> dict[str, float]:
        """One model's scores over all its rows, each with ``_ci_low``/``_ci_high`` bootstrap
        bounds (x100)."""

    def class_labels(self, rows: pd.DataFrame) -> list | None:
        """The rows' gold labels for the separability metrics (None: the task has none)."""
        return None

    # One input on the eager path ----------------------------------------------------------
    @abstractmethod
    def encode_one(
        self, lm: LoadedModel, example: Any, limit: int, truncate: bool = False
    ) -> EncodedInput:
        """One example as one whole input of at most ``limit`` tokens for the attention
        statistics (:func:`~ctxvec.tasks.heads.head_inputs`); too long is
        :class:`~ctxvec.errors.InputTooLongError`, unless ``truncate`` and the task's pass
        cuts its inputs (a text is cut; a QA pair, which the pass splits into windows, is not)."""

    def input_limit(self, settings: PassSettings) -> tuple[int | None, bool]:
        """``(max_length, truncate)`` of one input for the attention statistics: the pass's
        length limit (None: the model's), and whether the pass cuts longer inputs (else they are
        left out and listed). Default: the settings' ``max_length`` and ``baseline_compat``."""
        limit = getattr(settings, "max_length", None)
        return limit, not getattr(settings, "baseline_compat", False)

    @abstractmethod
    def inputs_of(self, example: Any) -> dict[str, str]:
        """The attention views' keyword arguments of a dataset example."""

    # Training a zoo member (ctxvec.offline) -----------------------------------------------
    def group_of(self, example: Example) -> str:
        """Examples of one group stay on one side of the zoo's dev split (default: alone)."""
        return example.id

    def head_config(self, dataset: Dataset) -> dict[str, Any]:
        """Config fields of a new model's head for ``dataset`` (classification: its labels)."""
        return {}

    def training_texts(self, examples: Sequence[Example]) -> list[str]:
        """The texts a new tokenizer is trained on."""
        raise CtxvecError(f"the zoo cannot train models for the {self.name} task")

    def training_features(
        self,
        tokenizer: Any,
        examples: Sequence[Example],
        dataset: Dataset,
        max_length: int,
        stride: int,
        unanswerable: bool = True,
    ) -> list[dict[str, Any]]:
        """Training inputs with their targets (``labels``, ``start_positions``, ...), cut at
        ``max_length`` (QA: windows overlapping by ``stride``; ``unanswerable=False`` leaves out
        windows without an answer)."""
        raise CtxvecError(f"the zoo cannot train models for the {self.name} task")

    def dev_score(
        self,
        lm: LoadedModel,
        dev: Sequence[Example],
        dataset: Dataset,
        max_length: int,
        stride: int,
    ) -> dict[str, Any]:
        """A saved checkpoint's score on the held-out examples, by the study's own code:
        ``{"metric": name, "value": x100, "n": examples}``."""
        raise CtxvecError(f"the zoo cannot train models for the {self.name} task")

    @abstractmethod
    def read(
        self, lm: LoadedModel, inputs: Mapping[str, str], limit: int, **options: Any
    ) -> Reading:
        """Run one input (``inputs``: :attr:`input_fields`) with its attentions and predict."""
