"""What defines a study: :class:`StudyConfig`, its defaults, and the scores it can correlate."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ctxvec.data import DEFAULT_SPLIT, TASKS, Task
from ctxvec.errors import CtxvecError, require_at_least, require_one_of
from ctxvec.loading import DTypeName, ModelSpec
from ctxvec.tasks.classify import ClsSettings
from ctxvec.tasks.qa import QASettings

DEFAULT_SUBSETS = {"qa": (4, 200), "cls": (4, 500)}
# Task scores a study can correlate with the metrics (columns of subsets.csv, x100).
SCORES = {"qa": ("f1", "exact", "best_f1"), "cls": ("f1", "accuracy", "macro_f1")}


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines a study; the manifest records it in full.

    ``subsets``/``subset_size`` default to the baseline's (QA 4 x 200, classification 4 x 500);
    ``subset_starts`` are positions in the seeded shuffle (default: consecutive blocks).
    ``score`` is the task score correlated with the metrics (see :data:`SCORES`): F1 by
    default, as the baseline; for classification, accuracy or macro F1 avoid rewarding a model
    that always answers the positive class.
    """

    task: Task
    models: tuple[ModelSpec, ...]
    data: str
    split: str | None = None
    subsets: int | None = None
    subset_size: int | None = None
    subset_starts: tuple[int, ...] | None = None
    seed: int = 0
    settings: QASettings | ClsSettings | None = None
    device: str = "auto"
    dtype: DTypeName = "auto"
    allow_untrained_head: bool = False
    score: str = "f1"
    # Refuse QA answers whose answer_start does not point at their text (else: one warning).
    strict: bool = False
    # Per-head attention statistics of a seeded sample of this many examples of each subset,
    # on the eager path after the metric pass (0: off). See docs/attention.md.
    attention_stats: int = 0

    def __post_init__(self) -> None:
        """Refuse impossible values at once, in the API as in the CLI (the same line)."""
        require_one_of("task", self.task, TASKS)
        if self.score not in SCORES[self.task]:
            raise CtxvecError(
                f"score '{self.score}' is not a {self.task} score; use one of "
                f"{', '.join(SCORES[self.task])}"
            )
        if self.subsets is not None:
            require_at_least("--subsets", self.subsets)
        if self.subset_size is not None:
            require_at_least("--subset-size", self.subset_size)
        require_at_least("--attention-stats", self.attention_stats, 0)
        for start in self.subset_starts or ():
            require_at_least("--subset-starts", start, 0)
        expected = QASettings if self.task == "qa" else ClsSettings
        if self.settings is not None and not isinstance(self.settings, expected):
            raise CtxvecError(
                f"settings of type {type(self.settings).__name__} for task {self.task}; "
                f"give {expected.__name__}"
            )

    def resolved(self) -> StudyConfig:
        """The config with every default filled in."""
        n, size = DEFAULT_SUBSETS[self.task]
        return dataclasses.replace(
            self,
            models=tuple(self.models),
            split=self.split or DEFAULT_SPLIT[self.task],
            subsets=n if self.subsets is None else self.subsets,
            subset_size=size if self.subset_size is None else self.subset_size,
            settings=self.settings or default_settings(self.task),
        )


def default_settings(task: Task) -> QASettings | ClsSettings:
    """The default settings of a task."""
    return QASettings() if task == "qa" else ClsSettings()
