"""The tasks of a study, each one module behind one contract (:class:`~ctxvec.tasks.base.Task`).

:mod:`~ctxvec.tasks.qa` (SQuAD-style extractive QA, over :mod:`~ctxvec.tasks.windows`) and
:mod:`~ctxvec.tasks.classify` (sequence classification, with label matching) implement it;
:mod:`~ctxvec.tasks.registry` finds a task by name; :mod:`~ctxvec.tasks.heads` is the eager
single-input path the attention views and ``--attention-stats`` share.
"""

from ctxvec.tasks.base import Predictions, Reading, Task
from ctxvec.tasks.registry import (
    get_task,
    load_dataset,
    register_task,
    task_names,
    task_of_model,
)

__all__ = [
    "Predictions",
    "Reading",
    "Task",
    "get_task",
    "load_dataset",
    "register_task",
    "task_names",
    "task_of_model",
]
