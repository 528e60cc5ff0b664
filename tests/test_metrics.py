import pytest

from hypercl.metrics import backward_transfer, forgetting, summarize

# Hand-computed example, 3 tasks (percent).
ACC = [
    [90.0, None, None],
    [80.0, 95.0, None],
    [70.0, 85.0, 99.0],
]


def test_forgetting_and_bwt_by_hand():
    # forgetting_0 = max(90, 80) - 70 = 20 ; forgetting_1 = 95 - 85 = 10
    assert forgetting(ACC) == [20.0, 10.0]
    # bwt = ((70 - 90) + (85 - 95)) / 2 = -15
    assert backward_transfer(ACC) == -15.0


def test_forgetting_uses_best_earlier_accuracy_not_first():
    acc = [[60.0, None, None], [90.0, 80.0, None], [85.0, 80.0, 70.0]]
    assert forgetting(acc) == [5.0, 0.0]
    assert backward_transfer(acc) == pytest.approx(((85 - 60) + (80 - 80)) / 2)


def test_summary_means():
    s = summarize(ACC)
    assert s["during_acc"] == [90.0, 95.0, 99.0]
    assert s["final_acc"] == [70.0, 85.0, 99.0]
    assert s["final_acc_mean"] == pytest.approx(254 / 3)
    assert s["during_acc_mean"] == pytest.approx(284 / 3)
    assert s["forgetting_mean"] == 15.0


def test_single_task_has_no_forgetting_or_bwt():
    s = summarize([[97.0]])
    assert s["forgetting_mean"] is None and s["bwt"] is None and s["final_acc_mean"] == 97.0
