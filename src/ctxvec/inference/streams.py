"""Independent single-threaded CPU streams for the forward pass.

On a CPU with ``torch.get_num_threads() > 1``, batches run as independent single-threaded
streams, one per thread, instead of one batch at a time split across threads: each matrix
multiply then stays in one core's cache and no core waits at a barrier for another (on a shared
or busy machine a barrier waits for the slowest, descheduled thread). Results do not depend on
the number of streams; ``torch.set_num_threads(1)`` gives one stream.

The streams share ONE model, so they need a model whose forward only reads it. A model that
changes itself in forward is not safe to share: BigBird switches itself from block-sparse to
full attention (``BigBirdModel.set_attention_type``, which swaps the attention modules of every
layer) when a batch is short, and a stream running a long batch then sees the other's half-made
switch (``ValueError: Query sided sequence length must be multiple of block size``). The rule
(:func:`thread_unsafe`), read from the source of every module class in the model: a module is
unsafe when its ``forward``, or a method of its own that ``forward`` calls (followed through
further ``self.<method>()`` calls), assigns, deletes or sets an item of an attribute of
``self`` (``self.x = ...``, ``self.x += ...``, ``self.x[k] = ...``, ``del self.x``,
``setattr(self, ...)``). PyTorch's own modules are trusted, and writes below an attribute
(``self.config.problem_type = ...``, which every classifier's forward does when given labels)
are not counted. In transformers this catches BigBird, BigBird-Pegasus, Swin-style window
switching, Reformer and the sinusoidal or rotary tables that grow in place; none of the encoder
families ctxvec trains (BERT, RoBERTa, ELECTRA, ALBERT, DeBERTa-v2, XLNet, MPNet). BigBird and
BigBird-Pegasus are also named by model type, in case their source cannot be read. For such a
model :func:`cpu_streams` steps aside: one stream, batches one after another, and the reason is
recorded with the unit's CPU kernels (``"streams": 1``, ``"streams_reason"``).
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import torch

# Model types known to change themselves in forward, whatever their source says.
KNOWN_UNSAFE = {"big_bird": "set_attention_type", "bigbird_pegasus": "set_attention_type"}


@contextmanager
def cpu_streams(
    device: torch.device, n_batches: int, model: torch.nn.Module | None = None
) -> Iterator[tuple[ThreadPoolExecutor | None, dict[str, Any]]]:
    """A pool of single-threaded workers, one per torch thread, on a CPU; else None.

    Yields the pool (or None) and what to record: ``{}``, or on a CPU for a ``model`` that is
    not safe to share between threads (:func:`thread_unsafe`) ``{"streams": 1,
    "streams_reason": why}``, and then no pool.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu":
        yield None, {}
        return
    why = thread_unsafe(model) if model is not None else None
    record: dict[str, Any] = {} if why is None else {"streams": 1, "streams_reason": why}
    if why is not None or threads < 2 or n_batches < 2:
        yield None, record
        return
    # set_num_threads in each worker sets that thread's OpenMP team size to one.
    pool = ThreadPoolExecutor(
        min(threads, n_batches), initializer=torch.set_num_threads, initargs=(1,)
    )
    try:
        yield pool, record
    finally:
        # After an error, batches not yet started are dropped instead of run to the end.
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)


def thread_unsafe(model: torch.nn.Module) -> str | None:
    """Why ``model`` is not safe to share between threads, or None when it is (module doc).

    The reason names the first offending class and what it writes, e.g. ``"BigBirdModel.forward
    writes self.attention_type (in set_attention_type)"``.
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    for cls in dict.fromkeys(type(m) for m in model.modules()):
        found = _self_writes(cls)
        if found:
            method, attr = found[0]
            where = "" if method == "forward" else f" (in {method})"
            return f"{cls.__name__}.forward writes self.{attr}{where}"
    if model_type in KNOWN_UNSAFE:
        return f"{model_type} changes itself in forward ({KNOWN_UNSAFE[model_type]})"
    return None


@functools.cache
def _self_writes(cls: type) -> tuple[tuple[str, str], ...]:
    """``(method, attribute)`` for each write to ``self`` by ``cls.forward`` or the methods of
    ``cls`` it calls, transitively; PyTorch's own methods are not read."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    todo = ["forward"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        method = inspect.getattr_static(cls, name, None)
        if isinstance(method, (staticmethod, classmethod)):
            method = method.__func__
        if not inspect.isfunction(method) or method.__module__.split(".")[0] == "torch":
            continue
        writes, calls = _writes_and_calls(method)
        found += [(name, attr) for attr in writes]
        todo += calls
    return tuple(found)


def _writes_and_calls(function: Any) -> tuple[list[str], list[str]]:
    """The attributes of ``self`` that ``function`` writes and its ``self.<method>()`` calls;
    nothing for a function whose source cannot be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(function))))
    except (OSError, TypeError, SyntaxError):
        return [], []
    writes: list[str] = []
    calls: list[str] = []

    def is_self(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == "self"

    def target(node: ast.AST) -> None:
        if isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                target(element)
        elif isinstance(node, ast.Starred):
            target(node.value)
        elif isinstance(node, ast.Attribute) and is_self(node.value):
            writes.append(node.attr)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and is_self(node.value.value)
        ):
            writes.append(f"{node.value.attr}[...]")

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.Delete)):
            for t in node.targets:
                target(t)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            target(node.target)
        elif isinstance(node, ast.Call):
            f = node.func
            if (
                isinstance(f, ast.Name)
                and f.id in ("setattr", "delattr")
                and node.args
                and is_self(node.args[0])
            ):
                writes.append(f"<{f.id}>")
            elif isinstance(f, ast.Attribute) and is_self(f.value):
                calls.append(f.attr)
    return writes, calls
