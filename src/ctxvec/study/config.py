"""What defines a study: :class:`StudyConfig`, and its defaults filled in once."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

from ctxvec.errors import CtxvecError, ParameterError, require_at_least
from ctxvec.inference.forward import PassSettings
from ctxvec.loading import DTypeName, ModelSpec
from ctxvec.study.tables import attribute_keys, reserved_columns
from ctxvec.tasks import get_task

# The static figures' formats: the ones matplotlib writes without extra packages.
FIGURE_FORMATS = ("png", "svg", "pdf")


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines a study; the manifest records it in full.

    ``task`` is a task's name (``"qa"``, ``"cls"`` or a registered one,
    :mod:`ctxvec.tasks.registry`). ``subsets``/``subset_size`` default to the task's (the
    baseline's: QA 4 x 200, classification 4 x 500); ``subset_starts`` are positions in the
    seeded shuffle (default: consecutive blocks). ``score`` is the task score correlated with
    the metrics (one of the task's ``scores``): the task's first by default (F1 for QA and
    classification, as the baseline; accuracy for images and audio); for classification,
    accuracy or macro F1 avoid rewarding a model that always answers the positive class.
    ``settings`` are the task's settings type (default: its defaults).
    ``controls`` and ``group`` are model attributes (:attr:`ModelSpec.attributes`) of the
    confounds analysis (``docs/study.md``): the partial correlations control for ``controls``
    (none by default: no partial correlation), and the mixed model's random intercept is per
    ``group`` (default: ``family`` when a model has that attribute, else no mixed model).
    """

    task: str
    models: tuple[ModelSpec, ...]
    data: str
    split: str | None = None
    subsets: int | None = None
    subset_size: int | None = None
    subset_starts: tuple[int, ...] | None = None
    seed: int = 0
    settings: PassSettings | None = None
    device: str = "auto"
    dtype: DTypeName = "auto"
    allow_untrained_head: bool = False
    score: str | None = None
    # Refuse QA answers whose answer_start does not point at their text (else: one warning).
    strict: bool = False
    # Per-head attention statistics of a seeded sample of this many examples of each subset,
    # on the eager path after the metric pass (0: off). See docs/attention.md.
    attention_stats: int = 0
    # Formats of the static figures (matplotlib) written beside the tables; () writes none.
    # Drawing them is most of a small study's time, and no number depends on them, so they are
    # not part of a unit's key. The report's interactive figures are always written.
    figures: tuple[str, ...] = ("png", "svg")
    # The confounds analysis: attributes to control for, and the mixed model's grouping. They
    # change no unit's key (nothing computed per unit depends on them).
    controls: tuple[str, ...] = ()
    group: str | None = None

    def __post_init__(self) -> None:
        """Refuse impossible values at once, in the API as in the CLI (the same line)."""
        task = get_task(self.task)
        if self.score is None:
            object.__setattr__(self, "score", task.scores[0])
        if self.score not in task.scores:
            raise ParameterError(
                "score", f"'{self.score}' is not a {task.name} score; use one of "
                f"{', '.join(task.scores)}"
            )  # fmt: skip
        if self.subsets is not None:
            require_at_least("subsets", self.subsets)
        if self.subset_size is not None:
            require_at_least("subset_size", self.subset_size)
        require_at_least("attention_stats", self.attention_stats, 0)
        if self.subset_starts is not None and not isinstance(self.subset_starts, tuple):
            raise ParameterError("subset_starts", f"{self.subset_starts!r} must be a tuple")
        if not isinstance(self.figures, tuple):
            raise ParameterError("figures", f"{self.figures!r} must be a tuple, e.g. ('png',)")
        for fmt in self.figures:
            if fmt not in FIGURE_FORMATS:
                raise ParameterError(
                    "figures", f"'{fmt}' is not one of {', '.join(FIGURE_FORMATS)}"
                )
        for start in self.subset_starts or ():
            require_at_least("subset_starts", start, 0)
        if self.settings is not None and not isinstance(self.settings, task.settings_type):
            raise CtxvecError(
                f"settings of type {type(self.settings).__name__} for task {task.name}; "
                f"give {task.settings_type.__name__}"
            )
        standardise = self.settings is not None and self.settings.standardise
        if standardise and "reference" not in inspect.signature(task.predict).parameters:
            raise ParameterError(
                "standardise",
                f"task {task.name} cannot standardise (its predict takes no reference "
                "examples); leave standardise off",
            )
        self._check_attributes()

    def _check_attributes(self) -> None:
        """Attribute keys that are no output column, and controls and a group that are keys."""
        keys = attribute_keys(self.models)
        taken = sorted(set(keys) & reserved_columns(get_task(self.task)))
        if taken:
            raise CtxvecError(
                f"model attribute '{taken[0]}' has the name of an output column; rename it in "
                f"the panel (e.g. '{taken[0]}_attribute')"
            )
        if not isinstance(self.controls, tuple):
            raise ParameterError("controls", f"{self.controls!r} must be a tuple, e.g. ('steps',)")
        known = (
            f"the panel's attributes are {', '.join(keys)}"
            if keys
            else ("the panel has no attributes; give them as [models.attributes] in a panel file")
        )
        for parameter, names in (("controls", self.controls), ("group", (self.group,))):
            for name in names:
                if name is not None and name not in keys:
                    raise ParameterError(parameter, f"'{name}' is no model attribute; {known}")

    @property
    def mixed_group(self) -> str | None:
        """The mixed model's grouping: ``group``, else ``family`` when a model has it."""
        if self.group is not None:
            return self.group
        return "family" if "family" in attribute_keys(self.models) else None

    def resolved(self) -> StudyConfig:
        """The config with every default filled in (``split``, ``subsets``, ``subset_size``,
        ``settings``); :func:`~ctxvec.study.run.run_study` resolves it once and passes it on."""
        task = get_task(self.task)
        n, size = task.default_subsets
        return dataclasses.replace(
            self,
            models=tuple(self.models),
            split=self.split or task.default_split,
            subsets=n if self.subsets is None else self.subsets,
            subset_size=size if self.subset_size is None else self.subset_size,
            settings=self.settings or task.settings_type(),
        )
