"""hypercl.bench.timing: per-variant medians of interleaved timings, on a fake clock."""

from __future__ import annotations

from hypercl.bench.timing import interleaved_medians, median_time


class FakeClock:
    """A clock that moves only when a timed closure says how long it took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def closure(self, name: str, durations: list[float], calls: list[str]):
        """A closure taking durations[i] seconds on its i-th call (the first is the warm-up)."""
        it = iter(durations)

        def fn() -> None:
            calls.append(name)
            self.now += next(it)

        return fn


def test_interleaved_medians_are_per_variant_medians_of_mean_call_time() -> None:
    clock, calls = FakeClock(), []
    fns = {
        # warm-up 100 s (not counted), then 3 repeats x 2 inner calls
        "fast": clock.closure("fast", [100, 1, 1, 1, 3, 2, 2], calls),
        "slow": clock.closure("slow", [100, 4, 4, 10, 10, 6, 6], calls),
    }
    medians = interleaved_medians(fns, repeats=3, inner=2, clock=clock)
    # per-repeat means: fast 1, 2, 2 -> 2; slow 4, 10, 6 -> 6
    assert medians == {"fast": 2.0, "slow": 6.0}
    # one warm-up each, then each repeat runs every variant in turn (interleaved)
    assert calls == ["fast", "slow"] + (["fast"] * 2 + ["slow"] * 2) * 3


def test_median_time_of_one_closure() -> None:
    clock, calls = FakeClock(), []
    fn = clock.closure("f", [50, 5, 1, 3, 9, 2], calls)
    assert median_time(fn, repeats=5, clock=clock) == 3.0
    assert len(calls) == 6
