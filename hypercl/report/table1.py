"""The paper's Table 1 layout: one row per (benchmark, scenario), one column per method.

Each cell is our final accuracy (mean +- SEM over n seeds, the budget in iterations per
task) above the paper's value, tagged ``V`` (verified against a quoted source) or ``R``
(recalled, see ``paper_reference.csv``'s ``status``). A method with rows at several budgets
shows its largest. In CL1 the HNET+TIR column repeats HNET+ENT's cell: without task
inference both are the same model (as in the official code, which trains no task-inference
network in CL1).
"""

from __future__ import annotations

import math

import pandas as pd

from hypercl.report.markdown import format_acc
from hypercl.report.runs import BENCHMARK_TITLES

# (method label in the rows, column title), in the paper's order.
COLUMNS = [
    ("hnet", "HNET+ENT"),
    ("hnet_tir", "HNET+TIR"),
    ("hnet_replay", "HNET+R"),
    ("dgr", "DGR+distill"),
    ("online_ewc", "Online EWC"),
    ("si", "SI"),
    ("ewc", "EWC"),
    ("lwf", "LwF"),
    ("finetune", "fine-tuning"),
    ("joint", "joint (upper bound)"),
]
STATUS_TAG = {"verified": "V", "recalled": "R"}
HNET_COLUMNS = ("hnet", "hnet_tir", "hnet_replay")


def cell(row: pd.Series | None, reference: pd.DataFrame, key: dict, same_as: str = "") -> str:
    """One cell: ours (n, budget, stale mark) and the paper's value with its status tag."""
    ref = reference
    for k, v in key.items():
        ref = ref[ref[k] == v]
    paper = ""
    if len(ref):
        r = ref.iloc[0]
        tag = STATUS_TAG.get(str(r.get("status", "")), "?")
        paper = f"paper {format_acc(r['final_acc'], r['sem'])} [{tag}]"
    if row is None:
        ours = "not run"
    else:
        ours = (
            f"**{format_acc(row['final_acc_mean'], row['final_acc_sem'])}** "
            f"(n {row['n']}, {row['iters_per_task']} it., {row['device']}"
            + (", REDUCED" if row["reduced"] else "")
            + (f", {row['code']}" if row["code"] else "")
            + (f", {same_as}" if same_as else "")
            + ")"
        )
    return "<br>".join(p for p in (ours, paper) if p)


def table1_markdown(
    table: pd.DataFrame, reference: pd.DataFrame, methods: tuple[str, ...] | None = None
) -> list[str]:
    """Markdown lines of the Table 1 view of a :func:`~hypercl.report.rows.summary_frame`;
    ``methods``: only these columns (default: every column with rows, and always the
    hypernetwork columns and DGR+distill)."""
    lines: list[str] = []
    labels = dict(COLUMNS)
    for (bench, num_tasks), rows in table.groupby(["benchmark", "num_tasks"], sort=False):
        present = set(rows["method"])
        # The paper's hypernetwork columns and DGR+distill always show ("not run" if empty).
        always = (*HNET_COLUMNS, "dgr")
        columns = [
            m
            for m, _ in COLUMNS
            if (m in present or m in always) and (methods is None or m in methods)
        ]
        title = BENCHMARK_TITLES.get(bench, bench)
        lines += [
            f"### {title} ({num_tasks} tasks)",
            "",
            "| scenario | " + " | ".join(labels[m] for m in columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        for scenario in sorted(set(rows["scenario"])):
            cells = []
            for method in columns:
                key = {
                    "benchmark": bench,
                    "num_tasks": num_tasks,
                    "scenario": scenario,
                    "method": method,
                }
                source, same_as = method, ""
                if method == "hnet_tir" and scenario == "cl1":
                    source, same_as = "hnet", "same model as HNET+ENT"
                match = rows[(rows["scenario"] == scenario) & (rows["method"] == source)]
                best = match.sort_values("iters_per_task").iloc[-1] if len(match) else None
                cells.append(cell(best, reference, key, same_as))
            lines.append(f"| {scenario.upper()} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def verdicts(table: pd.DataFrame) -> list[str]:
    """One line per hypernetwork cell at full budget with a paper value: ``matches`` (within
    2 combined SEM), ``above`` or ``below`` the paper, with both numbers; stale rows say so."""
    lines = []
    full = table[~table["reduced"] & table["method"].isin(HNET_COLUMNS)]
    for _, r in full.iterrows():
        paper = r["paper_final_acc"]
        if math.isnan(paper):
            continue
        ours, diff = r["final_acc_mean"], r["final_acc_mean"] - paper
        sem = math.sqrt(
            (0 if math.isnan(r["final_acc_sem"]) else r["final_acc_sem"] ** 2)
            + (0 if math.isnan(r["paper_sem"]) else r["paper_sem"] ** 2)
        )
        if r["n"] < 2:  # one seed: no SEM of ours, no verdict beyond the side
            word = ("above" if diff > 0 else "below") + " (one seed, no SEM)"
        elif sem > 0 and abs(diff) <= 2 * sem:
            word = "matches"
        else:
            word = "above" if diff > 0 else "below"
        title = BENCHMARK_TITLES.get(r["benchmark"], r["benchmark"])
        stale = f", {r['code']}" if r["code"] else ""
        lines.append(
            f"- {title} {r['scenario'].upper()} {dict(COLUMNS)[r['method']]}: **{word}** "
            f"the paper ({format_acc(ours, r['final_acc_sem'])}, n {r['n']}{stale}; paper "
            f"{format_acc(paper, r['paper_sem'])})"
        )
    return lines
