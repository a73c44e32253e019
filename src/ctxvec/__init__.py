"""ctxvec: do better attention-based encoders have more discriminative context vectors?

The Python API mirrors the CLI::

    from ctxvec import ModelSpec, StudyConfig, run_study
    config = StudyConfig(task="qa", models=(ModelSpec("deepset/roberta-base-squad2"),),
                         data="squad_v2")
    result = run_study(config, "runs/qa")
    result.subsets  # one row per (model, subset)

Lower-level pieces (loaders, inference, metrics, scoring, statistics) are importable from their
packages for notebooks that want one step only; ``docs/architecture.md`` maps them. The names
below are imported on first use, so ``import ctxvec`` (and the CLI's help) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS = {
    "ClsSettings": "ctxvec.tasks.classify",
    "match_labels": "ctxvec.tasks.labels",
    "predict_cls": "ctxvec.tasks.classify",
    "QASettings": "ctxvec.tasks.qa",
    "predict_qa": "ctxvec.tasks.qa",
    "load_dataset": "ctxvec.tasks",
    "Task": "ctxvec.tasks",
    "get_task": "ctxvec.tasks",
    "register_task": "ctxvec.tasks",
    "load_qa_dataset": "ctxvec.data",
    "load_text_dataset": "ctxvec.data",
    "select_subsets": "ctxvec.data",
    "CtxvecError": "ctxvec.errors",
    "MetricUndefinedError": "ctxvec.errors",
    "ModelSpec": "ctxvec.loading",
    "load_model": "ctxvec.loading",
    "resolve_model": "ctxvec.loading",
    "context_vector_metrics": "ctxvec.metrics.context",
    "StudyConfig": "ctxvec.study",
    "StudyResult": "ctxvec.study",
    "Unit": "ctxvec.study",
    "run_study": "ctxvec.study",
    "run_unit": "ctxvec.study",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and editors; at run time, __getattr__
    from ctxvec.data import load_qa_dataset, load_text_dataset, select_subsets  # noqa: F401
    from ctxvec.errors import CtxvecError, MetricUndefinedError  # noqa: F401
    from ctxvec.loading import ModelSpec, load_model, resolve_model  # noqa: F401
    from ctxvec.metrics.context import context_vector_metrics  # noqa: F401
    from ctxvec.study import StudyConfig, StudyResult, Unit, run_study, run_unit  # noqa: F401
    from ctxvec.tasks import Task, get_task, load_dataset, register_task  # noqa: F401
    from ctxvec.tasks.classify import ClsSettings, predict_cls  # noqa: F401
    from ctxvec.tasks.labels import match_labels  # noqa: F401
    from ctxvec.tasks.qa import QASettings, predict_qa  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ctxvec' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
