"""hypercl.fingerprint: which code changes make results stale, and declared equivalences."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hypercl import fingerprint
from hypercl.config import BenchmarkName, MethodName
from hypercl.fingerprint import (
    EQUIVALENT,
    REPORTING_CONF,
    REPORTING_MODULES,
    code_fingerprint,
    equivalent_fingerprints,
    fingerprinted_files,
    is_current,
)

REPO = Path(__file__).resolve().parent.parent


def _copy(dest: Path) -> Path:
    """A copy of the package and the presets, as a repository root."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "hypercl", dest / "hypercl", ignore=ignore)
    shutil.copytree(REPO / "conf", dest / "conf", ignore=ignore)
    return dest


@pytest.fixture
def root(tmp_path) -> Path:
    return _copy(tmp_path / "a")


def test_fingerprint_is_12_hex_and_independent_of_where_the_code_lies(root, tmp_path):
    value = code_fingerprint(root)
    assert re.fullmatch("[0-9a-f]{12}", value)
    assert code_fingerprint(root) == value
    assert code_fingerprint(_copy(tmp_path / "b")) == value
    assert re.fullmatch("[0-9a-f]{12}", code_fingerprint())  # the installed code


def test_hashed_files():
    files = fingerprinted_files()
    for module in [
        "methods/learner",
        "methods/regularizer",
        "nets/hnets",
        "nets/targets",
        "data/benchmarks",
        "experiment",
        "train",
    ]:
        assert f"hypercl/{module}.py" in files
    assert "hypercl/methods/baselines.py" in files and "hypercl/checkpoint.py" in files
    assert "conf/config.yaml" in files and "conf/method/hnet.yaml" in files
    assert "conf/experiment/split_mnist_cl1.yaml" in files
    assert not any(
        f.startswith(("conf/hydra/", "conf/logger/", "conf/hparams_search/")) for f in files
    )
    for module in ["report/tables", "report/results", "report/loggers", "launch/sweeps"]:
        assert f"hypercl/{module}.py" not in files
    assert "hypercl/fingerprint.py" not in files and "hypercl/data/__init__.py" not in files
    assert files == sorted(files)


def test_every_exclusion_names_an_existing_file():
    """A renamed or removed reporting module must leave the list, not linger in it."""
    for module in REPORTING_MODULES:
        path = REPO / "hypercl" / module
        assert path.is_dir() if module.endswith("/") else path.is_file(), module
    for directory in REPORTING_CONF:
        assert (REPO / "conf" / directory).is_dir(), directory


@pytest.mark.parametrize(
    "path",
    [
        "hypercl/methods/learner.py",
        "hypercl/methods/regularizer.py",
        "hypercl/experiment.py",
        "hypercl/train.py",
        "hypercl/metrics.py",
        "conf/method/hnet.yaml",
        "conf/config.yaml",
    ],
)
def test_a_change_to_code_that_can_change_a_number_changes_it(root, path):
    before = code_fingerprint(root)
    original = (root / path).read_bytes()
    (root / path).write_bytes(original + b"\n# one more line\n")
    assert code_fingerprint(root) != before
    (root / path).write_bytes(original)
    assert code_fingerprint(root) == before


@pytest.mark.parametrize(
    "path",
    [
        "hypercl/report/tables.py",
        "hypercl/report/results.py",
        "hypercl/report/loggers.py",
        "hypercl/launch/sweeps.py",
        "hypercl/fingerprint.py",
        "hypercl/methods/__init__.py",
        "conf/logger/none.yaml",
    ],
)
def test_a_change_to_reporting_code_leaves_it(root, path):
    before = code_fingerprint(root)
    (root / path).write_bytes((root / path).read_bytes() + b"\n# one more line\n")
    assert code_fingerprint(root) == before


def test_a_new_module_counts_until_declared_reporting(root):
    before = code_fingerprint(root)
    (root / "hypercl" / "new_module.py").write_text("X = 1\n")
    assert code_fingerprint(root) != before


def test_renaming_a_module_changes_it(root):
    before = code_fingerprint(root)
    (root / "hypercl" / "data" / "augment.py").rename(root / "hypercl" / "data" / "aug.py")
    assert code_fingerprint(root) != before


def test_line_endings_do_not_count(root):
    before = code_fingerprint(root)
    path = root / "hypercl" / "methods" / "learner.py"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert code_fingerprint(root) == before


def test_current_and_declared_equivalent_fingerprints():
    cur = "c0ffee000000"
    declared = (
        ("aaaaaa000000", "bbbbbb000000", "check 1"),
        ("bbbbbb000000", cur, "check 2"),
        ("dddddd000000", "eeeeee000000", "check 3"),  # equivalent to each other, not to cur
    )
    assert equivalent_fingerprints(cur, declared) == {cur, "aaaaaa000000", "bbbbbb000000"}
    assert is_current(cur, cur, declared)
    assert is_current("aaaaaa000000", cur, declared)  # through a chain
    assert not is_current("dddddd000000", cur, declared)
    assert not is_current("ffffff000000", cur, declared)
    assert not is_current(None, cur, declared)  # results.json written before fingerprints
    # after a change that alters results (no entry links the new code), all are stale
    assert not is_current("bbbbbb000000", "123456789abc", declared)
    # a run resumed by other code ("start+resume"): current only if both codes are
    assert is_current(f"aaaaaa000000+{cur}", cur, declared)
    assert not is_current(f"dddddd000000+{cur}", cur, declared)
    assert not is_current("aaaaaa000000+ffffff000000", cur, declared)


def test_an_equivalence_that_excludes_methods_holds_for_the_others_only():
    """A change that alters EWC's numbers only: its entry links the two codes for every
    other method, and an EWC result of the old code is stale."""
    cur = "c0ffee000000"
    declared = (
        ("aaaaaa000000", "bbbbbb000000", "check 1"),
        ("bbbbbb000000", cur, "check 2; ewc changed", frozenset({"ewc", "online_ewc"})),
    )
    assert is_current("aaaaaa000000", cur, declared, method="hnet")
    assert is_current("bbbbbb000000", cur, declared, method="si")
    assert not is_current("bbbbbb000000", cur, declared, method="ewc")
    assert not is_current("aaaaaa000000", cur, declared, method="online_ewc")
    assert is_current(cur, cur, declared, method="ewc")  # made by the new code
    assert equivalent_fingerprints(cur, declared) == {cur}  # no method: unscoped links only


def test_an_equivalence_that_excludes_a_benchmark_holds_for_the_others_only():
    """A change that alters the CIFAR presets only: MNIST results of the old code stay
    current, CIFAR ones go stale whatever their method."""
    cur = "c0ffee000000"
    declared = (("bbbbbb000000", cur, "MNIST unchanged", frozenset({"split_cifar10_100"})),)
    assert is_current("bbbbbb000000", cur, declared, "hnet", "perm_mnist")
    assert not is_current("bbbbbb000000", cur, declared, "hnet", "split_cifar10_100")
    assert not is_current("bbbbbb000000", cur, declared, "from_scratch", "split_cifar10_100")


def test_default_declarations_are_the_module_list(monkeypatch):
    monkeypatch.setattr(fingerprint, "EQUIVALENT", (("aaaaaa000000", "c0ffee000000", "x"),))
    assert is_current("aaaaaa000000", "c0ffee000000")


def test_declared_equivalences_are_well_formed():
    names = {m.value for m in MethodName} | {b.value for b in BenchmarkName}
    for entry in EQUIVALENT:
        old, new, proof, *altered = entry
        assert re.fullmatch("[0-9a-f]{12}", old) and re.fullmatch("[0-9a-f]{12}", new), entry
        assert old != new and proof.strip(), entry
        assert not altered or (altered[0] and altered[0] <= names), entry
