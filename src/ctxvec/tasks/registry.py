"""The registry of tasks: every task of a study found by its name.

The built-in tasks (``qa``, ``cls``, ``image``, ``audio``) are imported on first use;
:func:`register_task` adds another (a module of one's own, see
``tests/tasks/test_custom_task.py``). An unknown name is one line that lists the known ones.
"""

from __future__ import annotations

import importlib

from ctxvec.data import Dataset
from ctxvec.errors import CtxvecError, ParameterError
from ctxvec.loading import LoadedModel
from ctxvec.tasks.base import Task

# name -> "module:class" of the built-in tasks, imported when first asked for.
BUILTIN = {
    "qa": "ctxvec.tasks.qa:QATask",
    "cls": "ctxvec.tasks.classify:ClassificationTask",
    "image": "ctxvec.tasks.image:ImageTask",
    "audio": "ctxvec.tasks.audio:AudioTask",
}
_registered: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make ``task`` known by its name (replacing a task of the same name); returns it."""
    _registered[task.name] = task
    return task


def task_names() -> tuple[str, ...]:
    """The names of every known task, built-in first."""
    return tuple(dict.fromkeys([*BUILTIN, *_registered]))


def get_task(task: str | Task) -> Task:
    """The task of this name (a :class:`Task` is returned as it is)."""
    if isinstance(task, Task):
        return task
    if task not in _registered and task in BUILTIN:
        module, name = BUILTIN[task].split(":")
        register_task(getattr(importlib.import_module(module), name)())
    if task not in _registered:
        raise ParameterError("task", f"'{task}' is not one of {', '.join(task_names())}")
    return _registered[task]


def task_of_model(lm: LoadedModel) -> Task:
    """The task whose head ``lm`` was loaded with."""
    for name in task_names():
        if get_task(name).head == lm.head:
            return get_task(name)
    raise CtxvecError(f"model '{lm.resolved.spec.label}' carries no head of a known task")


def load_dataset(
    task: str | Task, source: str, split: str | None = None, strict: bool = False
) -> Dataset:
    """A task's data from a local file or folder, or the hub (split default: the task's
    ``default_split``). ``strict`` is the task's stricter reading (QA: refuse answers whose
    ``answer_start`` does not point at their text)."""
    task = get_task(task)
    return task.load_data(source, split or task.default_split, strict)
