"""What defines a study: :class:`StudyConfig`, its defaults, and the scores it can correlate."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ctxvec.data import DEFAULT_SPLIT, Task
from ctxvec.errors import CtxvecError
from ctxvec.inference.measured import check_metric_set
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

    def resolved(self) -> StudyConfig:
        """The config with every default filled in."""
        if self.score not in SCORES[self.task]:
            raise CtxvecError(
                f"score '{self.score}' is not a {self.task} score; use one of "
                f"{', '.join(SCORES[self.task])}"
            )
        n, size = DEFAULT_SUBSETS[self.task]
        settings = self.settings or (QASettings() if self.task == "qa" else ClsSettings())
        if isinstance(settings, QASettings) != (self.task == "qa"):
            raise CtxvecError(f"settings of type {type(settings).__name__} for task {self.task}")
        check_metric_set(settings.metrics)
        return dataclasses.replace(
            self,
            models=tuple(self.models),
            split=self.split or DEFAULT_SPLIT[self.task],
            subsets=self.subsets or n,
            subset_size=self.subset_size or size,
            settings=settings,
        )
