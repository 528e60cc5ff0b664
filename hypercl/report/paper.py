"""The paper beside our numbers: its reference values (``paper_reference.csv``), its
iteration budgets, the hand-written explanations of differences from it, and the generated
note of a table row."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from hypercl.report.runs import base_method

REFERENCE_CSV = Path(__file__).resolve().parent / "paper_reference.csv"
# Iterations per task of the paper's settings (the presets conf/experiment/*mnist*.yaml).
FULL_BUDGET = {"split_mnist": 2000, "perm_mnist": 5000}
EXPLANATION_KEYS = ["benchmark", "num_tasks", "scenario", "method", "iters_per_task"]
UNEXPLAINED = "unexplained"
RECHECK = "RE-CHECK"  # an explanation written for other runs than the row's


def cell(row: dict) -> str:
    """The row's result as an explanation is stamped with (column ``written_for``):
    ``"97.43 ± 0.02, n 3"``."""
    if row["n"] < 2:
        return f"{row['final_acc_mean']:.2f}, n {row['n']}"
    return f"{row['final_acc_mean']:.2f} ± {row['final_acc_sem']:.2f}, n {row['n']}"


def load_reference(path: Path = REFERENCE_CSV) -> pd.DataFrame:
    """The paper's final accuracies (benchmark, num_tasks, scenario, method, final_acc, sem,
    source)."""
    return pd.read_csv(path)


def paper_values(reference: pd.DataFrame, row: dict) -> dict:
    """``paper_final_acc``, ``paper_sem`` and ``paper_source`` for a row's benchmark, number
    of tasks, scenario and base method (NaN and "" where the paper has none)."""
    ref = reference[
        (reference["benchmark"] == row["benchmark"])
        & (reference["num_tasks"] == row["num_tasks"])
        & (reference["scenario"] == row["scenario"])
        & (reference["method"] == base_method(row["method"]))
    ]
    return {
        "paper_final_acc": ref["final_acc"].iloc[0] if len(ref) else math.nan,
        "paper_sem": ref["sem"].iloc[0] if len(ref) else math.nan,
        "paper_source": ref["source"].iloc[0] if len(ref) else "",
    }


def load_explanations(path: Path) -> pd.DataFrame:
    """The hand-written explanations of differences from the paper (empty if no file)."""
    if not path.exists():
        return pd.DataFrame(columns=[*EXPLANATION_KEYS, "explanation"])
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise SystemExit(f"hypercl.report.tables: {path} is empty; give it a header line") from None
    missing = sorted(set(EXPLANATION_KEYS + ["explanation"]) - set(table.columns))
    if missing:
        raise SystemExit(f"hypercl.report.tables: {path} lacks the column(s) {', '.join(missing)}")
    return table


def explanation(explanations: pd.DataFrame | None, row: dict) -> str:
    """The explanation written for this (benchmark, num_tasks, scenario, method, budget).

    Its ``written_for`` column records the row's :func:`cell` it was written for; where the
    row has changed since (new seeds, reruns), the explanation is flagged ``RE-CHECK``, as
    it may no longer hold."""
    if explanations is None or explanations.empty:
        return ""
    match = explanations
    for key in EXPLANATION_KEYS:
        match = match[match[key] == row[key]]
    if not len(match):
        return ""
    text = str(match["explanation"].iloc[0])
    written = match["written_for"].iloc[0] if "written_for" in match else None
    if not isinstance(written, str) or not written:
        return f"[{RECHECK}: written for runs not recorded; the row is now {cell(row)}] {text}"
    if written != cell(row):
        return f"[{RECHECK}: written for {written}; the row is now {cell(row)}] {text}"
    return text


def note(row: dict, full: int | None, explained: str = "") -> str:
    """Generated remarks: reduced budget, n, and differences beyond 2 SEM from the paper,
    followed by the explanation written for the cell (``unexplained`` where a difference
    beyond 2 SEM has none)."""
    parts = []
    beyond = False
    if row["reduced"]:
        parts.append(f"REDUCED budget: {row['iters_per_task']} of {full} iterations per task")
    paper = row["paper_final_acc"]
    if not math.isnan(paper):
        diff = row["final_acc_mean"] - paper
        ours, theirs = row["final_acc_sem"], row["paper_sem"]
        combined = math.sqrt(ours**2 + (0 if math.isnan(theirs) else theirs**2))
        side = "above" if diff > 0 else "below"
        if row["n"] < 2:
            parts.append(f"n=1, no SEM: {side} paper by {abs(diff):.2f}")
        elif combined > 0 and abs(diff) > 2 * combined:
            parts.append(f"{side} paper by {abs(diff):.2f} ({abs(diff) / combined:.1f} SEM)")
            beyond = True
    if explained:
        parts.append(explained)
    elif beyond and not row["reduced"]:
        parts.append(UNEXPLAINED)
    return "; ".join(parts)
