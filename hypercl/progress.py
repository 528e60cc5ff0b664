"""Where a run is and how it stops: the progress a checkpoint records, SIGTERM/SIGINT
handling, and the named kill points the resume tests die at."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass

from hypercl.errors import HyperclError

TRAIN = "train"  # phases of Progress


EVALUATE = "evaluate"


@dataclass
class Progress:
    """Where a run is: ``task`` (0-based; num_tasks = all trained and evaluated), steps of
    it done, and ``phase`` (``train``: training goes on after ``step``; ``evaluate``: the
    task is trained, its row of the accuracy matrix is not written)."""

    task: int = 0
    step: int = 0
    phase: str = TRAIN

    def __str__(self) -> str:
        if self.phase == EVALUATE:
            return f"the end of task {self.task + 1}'s training (not evaluated)"
        if self.step == 0:
            return f"the end of task {self.task} (evaluated)" if self.task else "start of task 1"
        return f"task {self.task + 1}, step {self.step}"


class Interrupted(HyperclError):
    """SIGTERM or SIGINT: the run stopped after writing a checkpoint."""

    kind = "interrupted"


def kill_point(name: str) -> None:
    """Send this process ``HYPERCL_KILL_SIGNAL`` (default SIGKILL) if ``HYPERCL_KILL_AT``
    names this point. Points: ``task<t>:step<s>`` (after step s, before its checkpoint),
    ``task<t>:checkpoint<s>`` (after the mid-task checkpoint at step s), ``task<t>:trained``,
    ``task<t>:evaluate`` (after the first test set of the row), ``task<t>:done`` (after
    the checkpoint that follows the evaluation), ``results`` (after results.json), and in
    the phases besides the classifier ``task<t>:VAE step<s>``, ``task<t>:task-inference net
    step<s>``."""
    if os.environ.get("HYPERCL_KILL_AT") == name:
        sig = getattr(signal, "SIG" + os.environ.get("HYPERCL_KILL_SIGNAL", "KILL"))
        os.kill(os.getpid(), sig)


class StopRequested(Exception):
    """Raised by :func:`raise_if_stop_requested` in a training phase the loop does not
    step (a replay VAE, the task-inference net); the loop turns it into :class:`Interrupted`
    with the newest checkpoint kept."""


class StopSignals:
    """Within ``with``: SIGTERM and SIGINT set :attr:`received` instead of killing the
    process, so the loop can checkpoint first (main thread only; elsewhere a no-op). The
    innermost active one is :data:`StopSignals.active`."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)
    active: StopSignals | None = None

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous: dict = {}
        self.outer: StopSignals | None = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        self.outer, StopSignals.active = StopSignals.active, self
        return self

    def _handle(self, signum: int, frame) -> None:
        self.received = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        StopSignals.active = self.outer


def raise_if_stop_requested() -> None:
    """:class:`StopRequested` if the active :class:`StopSignals` received a signal."""
    if StopSignals.active is not None and StopSignals.active.received is not None:
        raise StopRequested
