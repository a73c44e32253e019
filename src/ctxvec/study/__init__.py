"""A study: a panel of models x K subsets of one dataset, as independent, cached units of work.

:mod:`~ctxvec.study.config` says what a study is, :mod:`~ctxvec.study.units` plans its units,
:mod:`~ctxvec.study.shards` computes them (where: :mod:`~ctxvec.study.executors`),
:mod:`~ctxvec.study.cache` stores them, :mod:`~ctxvec.study.tables` and
:mod:`~ctxvec.study.manifest` build the outputs, and :mod:`~ctxvec.study.run` runs the whole
(panels of models: :mod:`ctxvec.loading.panels`).
"""

from ctxvec.study.config import StudyConfig
from ctxvec.study.result import StudyResult
from ctxvec.study.run import run_study
from ctxvec.study.shards import run_unit
from ctxvec.study.units import Unit, UnitResult, plan_units

__all__ = [
    "StudyConfig",
    "StudyResult",
    "Unit",
    "UnitResult",
    "plan_units",
    "run_study",
    "run_unit",
]
