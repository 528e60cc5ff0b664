"""Medians of repeated timings; variants compared are timed interleaved."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Hashable

from hypercl.bench.device import sync


def interleaved_medians(
    fns: dict[Hashable, Callable[[], object]],
    repeats: int,
    inner: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[Hashable, float]:
    """Median over ``repeats`` of the mean seconds per call over ``inner`` calls, for each
    closure in ``fns`` (same keys). Each repeat times every closure in turn, so a change in
    the host's speed during the run hits all of them alike and their ratios hold. Every
    closure is called once first, untimed (warm-up). ``clock`` returns seconds."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            sync()
            tic = clock()
            for _ in range(inner):
                fn()
            sync()
            times[key].append((clock() - tic) / inner)
    return {key: statistics.median(t) for key, t in times.items()}


def median_time(
    fn: Callable[[], object],
    repeats: int,
    inner: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median over ``repeats`` of the mean seconds per call over ``inner`` calls."""
    return interleaved_medians({None: fn}, repeats, inner, clock)[None]
