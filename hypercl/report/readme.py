"""The headline table of ``README.md``: the Table 1 view's hypernetwork and DGR+distill
columns, ours beside the paper, written between the markers ``<!-- results:begin -->``
and ``<!-- results:end -->`` (the rest of the file is left as it is)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hypercl.report.table1 import HNET_COLUMNS, table1_markdown

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
README_COLUMNS = (*HNET_COLUMNS, "dgr")


def readme_table(table: pd.DataFrame, reference: pd.DataFrame) -> list[str]:
    """The Table 1 view (:mod:`hypercl.report.table1`) of an MNIST table
    (:func:`hypercl.report.rows.summary_frame`), its hypernetwork columns and DGR+distill
    only: ours beside the paper in every cell."""
    if not table["method"].isin(HNET_COLUMNS).any():
        raise SystemExit("hypercl.report.tables: no hypernetwork rows for the README table")
    lines = table1_markdown(table, reference, methods=README_COLUMNS)
    return lines[:-1] if lines and lines[-1] == "" else lines


def replace_block(text: str, lines: list[str], where: str = "README") -> str:
    """``text`` with the lines between its results markers replaced by ``lines``."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin or text.count(BEGIN) != 1 or text.count(END) != 1:
        raise SystemExit(
            f"hypercl.report.tables: {where} needs one line {BEGIN} and, below it, one line {END}"
        )
    head = text[: begin + len(BEGIN)]
    return head + "\n" + "".join(line + "\n" for line in lines) + text[end:]


def write_readme(path: Path, table: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Rewrite the results block of ``path`` from an MNIST table and the paper's values
    (the file is left untouched where the block is already current)."""
    text = path.read_text()
    new = replace_block(text, readme_table(table, reference), str(path))
    if new != text:
        path.write_text(new)
