"""Results table and figures from run directories: ``python -m hypercl.report.tables <runs dir>``.

Collects every ``results.json`` under the runs directory (layout
``<runs>/<experiment>/<method>/seed<k>/``, as ``scripts/reproduce_mnist.sh`` writes it) and
writes, for every (benchmark, scenario, method, iterations per task):

* ``<out>/<name>.md`` and ``<out>/<name>.csv``: final accuracy mean +- SEM and n, the
  iteration budget (``REDUCED`` below the preset's full budget), the paper's number beside
  ours (``hypercl/report/paper_reference.csv``, with its source), stored parameters, wall time,
  and a note where we differ from the paper by more than 2 SEM;
* ``<out>/<name>_figures/``: accuracy-matrix heatmaps (mean over seeds), final per-task
  accuracy bars and during-vs-final bars, one figure of each per (benchmark, scenario);
* a section *Provenance* at the end of ``<name>.md``, also ``<out>/<name>_provenance.csv``:
  per row, its seeds, commits, code fingerprints, device and threads, and the command that
  retrains one seed (:mod:`hypercl.report.provenance`).

Notes that explain a difference from the paper are text kept in
``<out>/<name>_explanations.csv`` (benchmark, num_tasks, scenario, method, iters_per_task,
explanation, written_for); a difference beyond 2 SEM without one is marked ``unexplained``
and listed. ``written_for`` is the row's result the explanation was written for (``97.43 ±
0.02, n 3``): once the row changes, its explanation is flagged ``RE-CHECK`` and listed.

A row whose runs were made by other code than the current is marked ``stale (code changed
since)`` in its *code* column: a run counts as current if its ``code_fingerprint`` is the
current code's or declared equivalent to it (:mod:`hypercl.fingerprint`); a run without one
(written before fingerprints) is stale. Partly stale rows say how many of their runs are.

Split-CIFAR runs (``split_cifar*`` benchmarks) get their own sections: per target network
and method, the final and during accuracy of every task, the epoch budget (``REDUCED`` below
the preset's epochs or on a training subset), and a bar chart per (benchmark, target) like
Figure 4 of the paper (during and final accuracy per task for every method).

With ``--readme README.md`` it also rewrites the README's headline table, the block between
``<!-- results:begin -->`` and ``<!-- results:end -->``: the hypernetwork rows beside the
paper (:mod:`hypercl.report.readme`).

The output is a pure function of the ``results.json`` files and the current code's
fingerprint: deleting it and running the command again recreates it byte for byte; a code
change that makes committed runs stale changes it (their rows get the stale mark).

    python -m hypercl.report.tables results/runs/mnist                   # -> results/mnist.md, ...
    python -m hypercl.report.tables results/runs/mnist --name mnist --readme README.md
    python -m hypercl.report.tables results/runs/mnist_reduced --name mnist_reduced
    python -m hypercl.report.tables results/runs/cifar --name cifar       # -> results/cifar.md, ...

This module is the command and :func:`build`; it imports the others, each of which imports
only those listed before it: :mod:`~hypercl.report.runs` (reading ``results.json``),
:mod:`~hypercl.report.paper` (reference values, explanations, notes),
:mod:`~hypercl.report.rows` (runs grouped into rows), :mod:`~hypercl.report.markdown`,
:mod:`~hypercl.report.provenance` (where each row comes from),
:mod:`~hypercl.report.table1` (the paper's Table 1 layout),
:mod:`~hypercl.report.figures` and :mod:`~hypercl.report.readme`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hypercl.fingerprint import code_fingerprint
from hypercl.report.figures import cifar_figures, mnist_figures
from hypercl.report.markdown import cifar_markdown, header, mnist_markdown
from hypercl.report.paper import (
    RECHECK,
    REFERENCE_CSV,
    UNEXPLAINED,
    load_explanations,
    load_reference,
)
from hypercl.report.provenance import provenance_csv, provenance_frame, provenance_markdown
from hypercl.report.readme import write_readme
from hypercl.report.rows import (
    CIFAR_KEYS,
    ROW_KEYS,
    cifar_frame,
    cifar_key,
    runs_frame,
    summary_frame,
)
from hypercl.report.runs import STALE, is_cifar, load_runs
from hypercl.report.table1 import table1_markdown, verdicts


def build(
    runs_dir: Path,
    out: Path,
    name: str,
    reference_csv: Path = REFERENCE_CSV,
    explanations_csv: Path | None = None,
    current_fingerprint: str | None = None,
    readme: Path | None = None,
) -> dict:
    """Write ``<out>/<name>.md``, ``.csv``, ``_provenance.csv`` and ``<name>_figures/`` (CIFAR
    runs next to MNIST runs: their CSVs are ``<name>_cifar.csv`` and
    ``<name>_cifar_provenance.csv``); returns their paths, the cells
    whose difference from the paper is unexplained and the stale rows. Explanations:
    ``explanations_csv``, by default ``<out>/<name>_explanations.csv``. Staleness is judged
    against ``current_fingerprint`` (default: this code's :func:`code_fingerprint`). With
    ``readme``, also rewrite that file's results block from the MNIST rows
    (:mod:`hypercl.report.readme`)."""
    current = current_fingerprint or code_fingerprint()
    runs = load_runs(runs_dir, current)
    if not runs:
        raise SystemExit(f"hypercl.report.tables: no results.json under {runs_dir}")
    reference = load_reference(reference_csv)
    explanations = load_explanations(explanations_csv or out / f"{name}_explanations.csv")
    mnist_runs = [r for r in runs if not is_cifar(r)]
    cifar_runs = [r for r in runs if is_cifar(r)]
    if readme is not None and not mnist_runs:
        raise SystemExit(f"hypercl.report.tables: no MNIST runs under {runs_dir} for {readme}")
    out.mkdir(parents=True, exist_ok=True)
    md_path, figures_dir = out / f"{name}.md", out / f"{name}_figures"
    lines = header(runs_dir.as_posix(), name)
    provenance_lines: list[str] = []  # after all tables
    paths: dict = {
        "markdown": md_path,
        "figures": [],
        "unexplained": [],
        "recheck": [],
        "fingerprint": current,
        "stale": [],
        "rows": 0,
    }
    if mnist_runs:
        frame = runs_frame(mnist_runs)
        table = summary_frame(frame, reference, explanations)
        lines += table1_section(table, reference)
        lines += mnist_markdown(table, name)
        paths["csv"] = out / f"{name}.csv"
        table.to_csv(paths["csv"], index=False, float_format="%.4f")
        run_keys = frame[ROW_KEYS].itertuples(index=False, name=None)
        provenance = provenance_frame(table, ROW_KEYS, mnist_runs, run_keys, runs_dir)
        provenance_lines += provenance_markdown(provenance)
        paths["provenance_csv"] = out / f"{name}_provenance.csv"
        provenance_csv(provenance, paths["provenance_csv"])
        paths["figures"] += mnist_figures(mnist_runs, figures_dir)
        paths["recheck"] = row_labels(
            table[table["note"].str.contains(f"[{RECHECK}:", regex=False)]
        )
        paths["unexplained"] = row_labels(table[table["note"].str.endswith(UNEXPLAINED)])
        paths["rows"] += len(table)
        paths["stale"] += [
            f"{r.benchmark} {r.scenario} {r.method} ({r.iters_per_task} it.): {r.code}"
            for r in table.itertuples()
            if r.code
        ]
        if readme is not None:
            write_readme(readme, table, reference)
            paths["readme"] = readme
    if cifar_runs:
        cifar = cifar_frame(cifar_runs)
        lines += cifar_markdown(cifar)
        paths["cifar_csv"] = out / (f"{name}_cifar.csv" if mnist_runs else f"{name}.csv")
        cifar.to_csv(paths["cifar_csv"], index=False, float_format="%.4f")
        run_keys = [cifar_key(r) for r in cifar_runs]
        provenance = provenance_frame(cifar, CIFAR_KEYS, cifar_runs, run_keys, runs_dir)
        provenance_lines += provenance_markdown(provenance, cifar=True)
        cifar_csv = paths["cifar_csv"]
        paths["cifar_provenance_csv"] = cifar_csv.with_name(f"{cifar_csv.stem}_provenance.csv")
        provenance_csv(provenance, paths["cifar_provenance_csv"])
        paths["figures"] += cifar_figures(cifar, figures_dir)
        paths["rows"] += len(cifar)
        paths["stale"] += [
            f"{r.benchmark} {r.target} {r.method} ({r.budget}): {r.code}"
            for r in cifar.itertuples()
            if r.code
        ]
    lines += provenance_lines
    md_path.write_text("\n".join(lines) + "\n")
    return paths


def table1_section(table, reference) -> list[str]:
    """The Table 1 view (:mod:`hypercl.report.table1`) with its generated lead: which
    hypernetwork cells match the paper within 2 SEM and which do not."""
    lead = verdicts(table)
    return [
        "## Table 1 view: the paper's layout",
        "",
        "Hypernetwork cells at full budget against the paper (2 SEM, ours and the paper's "
        "combined); details, notes and explanations in the per-method tables below:",
        "",
        *(lead or ["- no hypernetwork cell at full budget yet"]),
        "",
        "Each cell: ours, mean ± SEM (n seeds, iterations per task), and the paper's value, "
        "tagged [V] verified against a quoted source or [R] recalled "
        "(`hypercl/report/paper_reference.csv`, column `status`).",
        "",
        *table1_markdown(table, reference),
    ]


def row_labels(rows) -> list[str]:
    """``"split_mnist cl1 hnet (2000 it.)"`` for each row of a summary table."""
    return [
        f"{r.benchmark} {r.scenario} {r.method} ({r.iters_per_task} it.)" for r in rows.itertuples()
    ]


def main(argv: list[str] | None = None) -> None:
    """The command line: ``python -m hypercl.report.tables RUNS [--name NAME] [--readme PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m hypercl.report.tables", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "runs_dir", type=Path, help="directory with <experiment>/<method>/seed<k>/results.json"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="output directory (default: results)"
    )
    parser.add_argument("--name", default="mnist", help="file name stem (default: mnist)")
    parser.add_argument(
        "--reference", type=Path, default=REFERENCE_CSV, help="paper reference values (CSV)"
    )
    parser.add_argument(
        "--explanations",
        type=Path,
        default=None,
        help="explanations of differences from the paper (CSV; default: "
        "<out>/<name>_explanations.csv)",
    )
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="also rewrite this file's block between <!-- results:begin --> and "
        "<!-- results:end --> with the hypernetwork rows (e.g. README.md)",
    )
    args = parser.parse_args(argv)
    if not any(args.runs_dir.rglob("results.json")):
        parser.error(f"no results.json under {args.runs_dir}")
    try:
        paths = build(
            args.runs_dir,
            args.out,
            args.name,
            args.reference,
            args.explanations,
            readme=args.readme,
        )
    except OSError as err:
        parser.exit(2, f"{parser.prog}: error: cannot write the tables: {err}\n")
    keys = ("markdown", "csv", "cifar_csv", "provenance_csv", "cifar_provenance_csv", "readme")
    tables = [str(p) for key in keys if (p := paths.get(key))]
    print(f"wrote {', '.join(tables)} and {len(paths['figures'])} figures")
    print(
        f"code fingerprint {paths['fingerprint']}: {len(paths['stale'])} of {paths['rows']} "
        f"rows {STALE}"
    )
    if paths["recheck"]:
        print(
            "explanations written for other runs than their row's (re-check each, then set its "
            "written_for to the row's value): " + "; ".join(paths["recheck"])
        )
    if paths["unexplained"]:
        print(
            "differences from the paper beyond 2 SEM without an explanation: "
            + "; ".join(paths["unexplained"])
        )


if __name__ == "__main__":
    main()
