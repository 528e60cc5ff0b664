"""The paper's figures from committed runs: ``python -m hypercl.figures``.

Reads every ``results.json`` under ``--runs`` (default ``results/runs``) and writes, under
``--out`` (default ``results/figures``), ``perm_mnist100/`` and ``compression/``, each
with its figures and a ``README.md`` table
(:mod:`hypercl.report.paper_figures`). Missing runs are listed, never fatal; a ``--runs``
that is not a directory, or an ``--out`` that cannot be written, is an error (exit 2).
``--ratios`` prints the compression study's ratio table (``conf/compression/*.yaml``) and
exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m hypercl.figures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=Path("results/runs"),
        help="directory searched for results.json (default: results/runs)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/figures"),
        help="output directory (default: results/figures)",
    )
    parser.add_argument(
        "--ratios", action="store_true", help="print the compression study's ratio table and exit"
    )
    args = parser.parse_args(argv)
    from hypercl.report.paper_figures import build, compression_ratios, ratios_markdown

    if args.ratios:
        print("\n".join(ratios_markdown(compression_ratios())))
        return
    if not args.runs.is_dir():
        parser.error(f"--runs {args.runs}: no such directory (the runs' results.json live there)")
    try:
        summary = build(args.runs, args.out)
    except OSError as err:
        parser.exit(2, f"{parser.prog}: error: cannot write under --out {args.out}: {err}\n")
    print(
        f"{summary['runs']} runs read from {args.runs}; wrote {len(summary['figures'])} "
        f"figures under {args.out}"
    )
    for line in summary["missing"]:
        print(f"missing: {line}")


if __name__ == "__main__":
    main()
