"""ctxvec: do better attention-based encoders have more discriminative context vectors?

The Python API mirrors the CLI::

    from ctxvec import ModelSpec, StudyConfig, run_study
    config = StudyConfig(task="qa", models=(ModelSpec("deepset/roberta-base-squad2"),),
                         data="squad_v2")
    result = run_study(config, "runs/qa")
    result.subsets  # one row per (model, subset)

Lower-level pieces (loaders, inference, metrics, scoring, statistics) are importable from their
modules for notebooks that want one step only.
"""

from ctxvec.classify import ClsSettings, match_labels, predict_cls
from ctxvec.data import load_qa_dataset, load_text_dataset, select_subsets
from ctxvec.errors import CtxvecError, MetricUndefinedError
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.metrics import context_vector_metrics
from ctxvec.qa import QASettings, predict_qa
from ctxvec.study import StudyConfig, StudyResult, Unit, run_study, run_unit

__all__ = [
    "ClsSettings",
    "CtxvecError",
    "MetricUndefinedError",
    "ModelSpec",
    "QASettings",
    "StudyConfig",
    "StudyResult",
    "Unit",
    "context_vector_metrics",
    "load_model",
    "load_qa_dataset",
    "load_text_dataset",
    "match_labels",
    "predict_cls",
    "predict_qa",
    "resolve_model",
    "run_study",
    "run_unit",
    "select_subsets",
]
