"""Run summaries as the tables see them: every ``results.json`` under a runs directory, the
name of its method in the tables, whether the code that made it is current, and the
statistics shared by all tables (mean accuracy matrix, SEM)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from hypercl.config import MethodName
from hypercl.fingerprint import code_fingerprint, is_current

# Table rows in the order of the config enum; HNET+TIR (method hnet, task_inference tir) next
# to HNET+ENT.
METHOD_ORDER = [m.value for m in MethodName]
METHOD_ORDER.insert(METHOD_ORDER.index("hnet") + 1, "hnet_tir")
STALE = "stale (code changed since)"
BENCHMARK_TITLES = {
    "split_mnist": "Split-MNIST",
    "perm_mnist": "Permuted-MNIST",
    "split_cifar10_100": "Split-CIFAR-10/100",
    "split_cifar10": "Split-CIFAR-10",
    "split_cifar100": "Split-CIFAR-100",
}
TARGET_TITLES = {"resnet32": "ResNet-32", "zenkenet": "ZenkeNet"}


def load_runs(runs_dir: Path, current: str | None = None) -> list[dict]:
    """Every results.json under ``runs_dir``, in path order, with its relative path and
    ``_stale``: whether the code that made it is not ``current`` (a fingerprint; default:
    this code's) or declared equivalent to it."""
    current = current or code_fingerprint()
    runs = []
    for path in sorted(runs_dir.rglob("results.json")):
        data = json.loads(path.read_text())
        data["_path"] = path.relative_to(runs_dir).as_posix()
        data["_stale"] = not is_current(
            data.get("code_fingerprint"), current, None, data["method"], data["benchmark"]
        )
        if "params_stored_total" not in data:
            data.update(stored_params_fallback(data, path.parent / "config.yaml"))
        runs.append(data)
    return runs


def stored_params_fallback(results: dict, config_yaml: Path) -> dict:
    """Stored parameters of hypernetwork runs written before results.json recorded them:
    the hypernetwork with all embeddings, and one task embedding per task (from the run's
    config.yaml). Other runs: unknown."""
    if results.get("method") != "hnet" or results.get("num_params_hnet") is None:
        return {}
    per_task = None
    if config_yaml.exists():
        import yaml

        per_task = yaml.safe_load(config_yaml.read_text())["hnet"]["task_emb_dim"]
    return {"params_stored_total": results["num_params_hnet"], "params_stored_per_task": per_task}


def is_cifar(run: dict) -> bool:
    """Whether a run is on a Split-CIFAR benchmark (those get their own sections)."""
    return run["benchmark"].startswith("split_cifar")


def code_status(stale_runs: int, n: int) -> str:
    """The *code* cell of a row of ``n`` runs of which ``stale_runs`` are stale: empty when
    none is, ``STALE`` when all are, else ``STALE: k of n runs``."""
    if stale_runs == 0:
        return ""
    return STALE if stale_runs == n else f"{STALE}: {stale_runs} of {n} runs"


def method_label(run: dict) -> str:
    """The method's name in tables; a variant that changes what a method measures gets
    its own rows: ``"hnet_tir"`` for HNET+TIR (``method.task_inference=tir`` in CL2/CL3; in
    CL1 it is plain HNET), ``"<method>, one Adam"`` for ``method.reset_optimizer=false``."""
    if run.get("method_variant") == "hnet+tir":
        return "hnet_tir"
    if (run.get("method_hparams") or {}).get("reset_optimizer") is False:
        return f"{run['method']}, one Adam"
    return run["method"]


def base_method(label: str) -> str:
    """The method name a :func:`method_label` starts with: ``"finetune, one Adam"`` ->
    ``"finetune"``."""
    return label.split(",")[0]


def method_order(label: str) -> tuple[int, str]:
    """Sort key: the config enum's order of the base method, then the label."""
    base = base_method(label)
    return (METHOD_ORDER.index(base) if base in METHOD_ORDER else 99, label)


def iters_per_task(run: dict) -> int:
    """The run's training iterations per task (the smallest, where tasks differ)."""
    return int(min(run.get("task_iters") or [run["iters_per_task"]]))


def mean_matrix(runs: list[dict]) -> np.ndarray:
    """Mean accuracy matrix over runs (NaN above the diagonal)."""
    stack = np.array(
        [[[np.nan if a is None else a for a in row] for row in r["acc_matrix"]] for r in runs]
    )
    return stack.mean(axis=0)


def number(value: float | None) -> float:
    """A results.json number as a float, NaN where it is null (not measured)."""
    return math.nan if value is None else float(value)


def sem(values: pd.Series) -> float:
    """Standard error of the mean (NaN for one value)."""
    n = len(values)
    return float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
