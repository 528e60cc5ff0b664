"""hypercl.bench.startup's process timer, and the run's filter of known warnings."""

from __future__ import annotations

import sys
import warnings

from hypercl.bench.startup import FIRST_STEP, timed_process
from hypercl.environment import KNOWN_WARNINGS, silence_known_warnings


def test_timed_process_finds_the_first_step_line() -> None:
    code = "print('building'); print('[x][hypercl][INFO] - task 1 step 1/1: loss 0.69')"
    t = timed_process([sys.executable, "-c", code], FIRST_STEP)
    assert t["first"] is not None and 0 < t["first"] <= t["total"]
    assert t["first_cpu"] is not None and 0 <= t["first_cpu"] <= t["total_cpu"]


def test_timed_process_without_the_line_and_on_failure() -> None:
    t = timed_process([sys.executable, "-c", "print('task 2 step 1/1')"], FIRST_STEP)
    assert t["first"] is None and t["total_cpu"] > 0
    try:
        timed_process([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    except RuntimeError as err:
        assert "exited with 3" in str(err) and "boom" in str(err)
    else:
        raise AssertionError("a failing command must raise")


def test_only_the_known_warnings_are_silenced() -> None:
    message, category, module = KNOWN_WARNINGS[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_warnings()
        warnings.warn_explicit(message, category, "evaluation.py", 94, module=module)
        # the same text from another module, another text from that module: both still shown
        warnings.warn_explicit(message, category, "other.py", 1, module="other.module")
        warnings.warn_explicit(
            message + " (and more)", category, "evaluation.py", 95, module=module
        )
    assert [str(w.message) for w in caught] == [message, message + " (and more)"]
