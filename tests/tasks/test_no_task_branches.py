"""Nothing outside ``src/ctxvec/tasks/`` branches on a task's name.

Read with :mod:`ast`, every module of the package outside ``tasks/`` is searched for a
comparison with a task's name (``task == "qa"``, ``task in ("qa", "cls")``), a ``match`` case on
one, a ``Literal`` type that lists them, and a dict literal keyed by them that is indexed at
once (``{"qa": ..., "cls": ...}[task]``). Tables of per-task choices that are data (the zoo's
default members per task, the demo's score per task) are not branches and are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ctxvec.tasks import task_names

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "ctxvec"
NAMES = set(task_names())


def _names_in(node: ast.AST) -> set[str]:
    """Task names written as string constants in ``node`` (a constant or a literal collection)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    return set()


def branches(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` of every branch on a task's name in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_names_in(o) for o in operands):
                found.append((node.lineno, "comparison with a task name"))
        elif isinstance(node, ast.MatchValue) and _names_in(node.value):
            found.append((node.lineno, "match case on a task name"))
        elif isinstance(node, ast.Subscript):
            if isinstance(node.value, ast.Name) and node.value.id == "Literal":
                if _names_in(node.slice):
                    found.append((node.lineno, "Literal type of task names"))
            elif isinstance(node.value, ast.Dict) and any(
                k is not None and _names_in(k) for k in node.value.keys
            ):
                found.append((node.lineno, "dict keyed by task names, indexed"))
    return found


def modules_outside_tasks() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "tasks" not in p.relative_to(PACKAGE).parts)


@pytest.mark.parametrize(
    "source",
    [
        'if task == "qa": pass',
        'x = "cls" != kind',
        'ok = task in ("qa", "cls")',
        "def f(task: Literal['qa', 'cls']): ...",
        'auto = {"qa": 1, "cls": 2}[task]',
        'match task:\n    case "qa": pass',
    ],
)
def test_the_search_finds_each_kind_of_branch(source: str) -> None:
    assert branches(source), source


def test_the_search_leaves_data_alone() -> None:
    assert not branches('SCORES = {"qa": "f1", "cls": "accuracy"}\nscore = SCORES[task]')


def test_no_module_outside_tasks_branches_on_a_task_name() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {what}"
        for path in modules_outside_tasks()
        for line, what in branches(path.read_text(encoding="utf-8"))
    ]
    assert len(modules_outside_tasks()) > 50
    assert not found, "\n".join(found)
