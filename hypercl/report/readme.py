"""The headline table of ``README.md``: the hypernetwork rows of the MNIST table beside the
paper, written between the markers ``<!-- results:begin -->`` and ``<!-- results:end -->``
(the rest of the file is left as it is)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hypercl.report.markdown import format_acc, format_budget, format_float, format_paper
from hypercl.report.runs import BENCHMARK_TITLES

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
HEADLINE_METHOD = "hnet"


def readme_table(table: pd.DataFrame) -> list[str]:
    """The hypernetwork rows of an MNIST table (:func:`hypercl.report.rows.summary_frame`) as
    one markdown table, in the table's order."""
    rows = table[table["method"] == HEADLINE_METHOD]
    if rows.empty:
        raise SystemExit(f"hypercl.report.tables: no {HEADLINE_METHOD} rows for the README table")
    lines = [
        "| benchmark | scenario | method | code | n | iters/task | final acc. | paper "
        "| during acc. | device |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.iterrows():
        benchmark = (
            f"{BENCHMARK_TITLES.get(r['benchmark'], r['benchmark'])} ({r['num_tasks']} tasks)"
        )
        lines.append(
            f"| {benchmark} | {r['scenario'].upper()} | {r['method']} | {r['code']} | {r['n']} "
            f"| {format_budget(r)} | {format_acc(r['final_acc_mean'], r['final_acc_sem'])} "
            f"| {format_paper(r)} | {format_float(r['during_acc_mean'])} | {r['device']} |"
        )
    return lines


def replace_block(text: str, lines: list[str], where: str = "README") -> str:
    """``text`` with the lines between its results markers replaced by ``lines``."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin or text.count(BEGIN) != 1 or text.count(END) != 1:
        raise SystemExit(
            f"hypercl.report.tables: {where} needs one line {BEGIN} and, below it, one line {END}"
        )
    head = text[: begin + len(BEGIN)]
    return head + "\n" + "".join(line + "\n" for line in lines) + text[end:]


def write_readme(path: Path, table: pd.DataFrame) -> None:
    """Rewrite the results block of ``path`` from an MNIST table (the file is left untouched
    where the block is already current)."""
    text = path.read_text()
    new = replace_block(text, readme_table(table), str(path))
    if new != text:
        path.write_text(new)
