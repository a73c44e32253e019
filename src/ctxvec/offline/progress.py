"""Training progress on standard error: a tqdm bar per member being trained (steps, rate, time
left) in a terminal, else a plain line per member now and then, and the queue messages that
carry a worker process's steps and log lines to the parent, which alone writes them.

Left out: what is trained and saved (:mod:`ctxvec.offline.zoo`, :mod:`ctxvec.offline.training`).
"""

from __future__ import annotations

import math
import queue
import sys
import time
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

# Seconds between two progress lines of a member's training when there are no bars.
PROGRESS_EVERY = 30.0
# Seconds between two step reports a worker process sends (its first and last always go), and
# between two looks of the parent at the queue.
SEND_EVERY = 0.2
POLL_EVERY = 0.1


class TrainingProgress:
    """The training progress of a zoo's members, on standard error: with ``bars``, a tqdm bar
    per member being trained, left as a line when it is done; without, a line per member at
    most every :data:`PROGRESS_EVERY` seconds. :meth:`say` writes a log line without breaking
    the bars."""

    def __init__(self, bars: bool, names: Sequence[str], log: Callable[[str], None]) -> None:
        self.bars = bars
        self.log = log
        self.file = sys.stderr
        self.width = max(map(len, names), default=0)
        self.open: dict[str, tqdm] = {}
        self.positions: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.reported: dict[str, float] = {}

    def say(self, line: str) -> None:
        if self.open:
            with tqdm.external_write_mode(file=self.file):
                self.log(line)
        else:
            self.log(line)

    def step(self, name: str, step: int, last: int) -> None:
        """``name`` has done ``step`` of ``last`` steps (0: training starts)."""
        now = time.perf_counter()
        if step == 0:
            self.started[name] = self.reported[name] = now
        if self.bars:
            self._advance(name, step, last)
        elif 0 < step < last and now - self.reported.get(name, now) >= PROGRESS_EVERY:
            self.reported[name] = now
            left = (now - self.started.get(name, now)) / step * (last - step)
            print(f"  {name}: step {step}/{last}, about {left:.0f}s left", file=self.file)

    def _advance(self, name: str, step: int, last: int) -> None:
        bar = self.open.get(name)
        if bar is None:
            taken = set(self.positions.values())
            self.positions[name] = position = next(
                i for i in range(len(taken) + 1) if i not in taken
            )
            bar = self.open[name] = tqdm(
                total=last,
                desc=f"  {name:<{self.width}}",
                unit="step",
                position=position,
                leave=False,
                dynamic_ncols=True,
                file=self.file,
            )
        bar.update(step - bar.n)
        if step >= last:
            meter = bar.format_dict
            meter["rate"] = None  # the whole run's mean rate, not the last moments'
            self._close(name)
            tqdm.write(bar.format_meter(**meter), file=self.file)

    def _close(self, name: str) -> None:
        self.open.pop(name).close()
        del self.positions[name]
        # A bar below the first leaves the cursor where its line ended: back to the start, or
        # the next line written would begin there.
        self.file.write("\r")

    def close(self) -> None:
        """Clear the bars of members that did not finish."""
        for name in list(self.open):
            self._close(name)


def senders(messages, name: str) -> tuple[Callable[[str], None], Callable[[int, int], None]]:
    """``(say, on_step)`` for member ``name`` training in a worker process: they put its log
    lines and its steps (the first and last, between them at most one per :data:`SEND_EVERY`
    seconds) on the ``messages`` queue, for :func:`relay` in the parent."""
    sent = -math.inf

    def on_step(step: int, last: int) -> None:
        nonlocal sent
        now = time.perf_counter()
        if step in (0, last) or now - sent >= SEND_EVERY:
            sent = now
            messages.put(("step", name, step, last))

    def say(line: str) -> None:
        messages.put(("say", line))

    return say, on_step


def relay(messages, progress: TrainingProgress) -> None:
    """Pass what the workers sent so far on to ``progress``."""
    while True:
        try:
            message = messages.get_nowait()
        except queue.Empty:
            return
        if message[0] == "step":
            progress.step(*message[1:])
        else:
            progress.say(message[1])
