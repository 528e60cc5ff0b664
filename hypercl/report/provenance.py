"""Where every table row comes from: the runs' seeds, commits, code fingerprints, device and
threads, and the command that reproduces one seed, one row per row of the tables
(:mod:`hypercl.report.rows`, same keys, same order).

The command is ``python -m hypercl.train`` with the run's own overrides (Hydra's
``.hydra/overrides.yaml`` beside its ``results.json``), its seed written ``seed=<seed>``;
where the runs of a row differ in other overrides, each distinct command is listed with
its seeds. What a run did not record (no overrides file, no ``code_fingerprint``, no
``git_commit``) reads ``not recorded``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from hypercl.report.markdown import format_budget
from hypercl.report.runs import BENCHMARK_TITLES, TARGET_TITLES

NOT_RECORDED = "not recorded"
SEED = "seed=<seed>"
COLUMNS = ["n", "seeds", "commits", "fingerprints", "code", "device", "command"]


def compact_seeds(seeds: Iterable[int]) -> str:
    """Seeds as ranges: ``[1, 2, 3, 5]`` -> ``"1-3 5"``."""
    runs: list[list[int]] = []
    for s in sorted(set(seeds)):
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return " ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def counted(values: list[str]) -> str:
    """Distinct values in order of first appearance, each with how many times it occurs
    (``"a ×10, b ×10"``) where there is more than one; the value alone where all agree."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return distinct[0]
    return ", ".join(f"{v} ×{values.count(v)}" for v in distinct)


def short_commit(commit: str | None) -> str:
    """A ``git_commit`` in 7 characters, keeping a ``-dirty`` mark."""
    if not commit:
        return NOT_RECORDED
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def device_threads(run: dict) -> str:
    """``"cpu (Intel(R) Xeon(R) Processor), 1 thread"``: the run's device, hardware and torch
    threads (``"cpu (model not recorded), 1 thread"`` for a run from before ``hardware``)."""
    device, threads = run.get("device") or NOT_RECORDED, run.get("num_threads")
    device = f"{device} ({run.get('hardware') or 'model ' + NOT_RECORDED})"
    if threads is None:
        return f"{device}, threads {NOT_RECORDED}"
    return f"{device}, {threads} thread{'' if threads == 1 else 's'}"


def read_overrides(run_dir: Path) -> list[str] | None:
    """The job's overrides from ``<run_dir>/.hydra/overrides.yaml``; None without one."""
    path = run_dir / ".hydra" / "overrides.yaml"
    return [str(o) for o in yaml.safe_load(path.read_text()) or []] if path.exists() else None


def train_command(overrides: list[str] | None) -> str:
    """``python -m hypercl.train`` + the overrides, the seed's as ``seed=<seed>``."""
    if overrides is None:
        return NOT_RECORDED
    args = [SEED if o.lstrip("+").split("=")[0] == "seed" else shlex.quote(o) for o in overrides]
    return " ".join(["python -m hypercl.train", *args, *([] if SEED in args else [SEED])])


def provenance_cells(runs: list[dict], runs_dir: Path) -> dict:
    """The :data:`COLUMNS` of one row but *code*, from its runs (``_path`` relative to
    ``runs_dir``, as :func:`~hypercl.report.runs.load_runs` sets it). *command*: a tuple of
    (command, seeds) pairs, one per distinct command."""
    runs = sorted(runs, key=lambda r: r["seed"])
    seeds_by_command: dict[str, list[int]] = {}
    for r in runs:
        command = train_command(read_overrides(runs_dir / Path(r["_path"]).parent))
        seeds_by_command.setdefault(command, []).append(r["seed"])
    return {
        "n": len(runs),
        "seeds": compact_seeds(r["seed"] for r in runs),
        "commits": counted([short_commit(r.get("git_commit")) for r in runs]),
        "fingerprints": counted([r.get("code_fingerprint") or NOT_RECORDED for r in runs]),
        "device": counted([device_threads(r) for r in runs]),
        "command": tuple((c, compact_seeds(s)) for c, s in seeds_by_command.items()),
    }


def provenance_frame(
    table: pd.DataFrame,
    keys: list[str],
    runs: list[dict],
    run_keys: Iterable[tuple],
    runs_dir: Path,
) -> pd.DataFrame:
    """One row per row of ``table`` (a frame of :mod:`hypercl.report.rows` named by the
    columns ``keys``), in its order: the keys, ``reduced``, *code* as the table has it
    (``current`` where empty) and the rest of :data:`COLUMNS` from the runs whose key
    (``run_keys``, one per run) is the row's."""
    groups: dict[tuple, list[dict]] = {}
    for run, key in zip(runs, run_keys, strict=True):
        groups.setdefault(tuple(key), []).append(run)
    rows = []
    for row in table.to_dict("records"):
        cells = provenance_cells(groups[tuple(row[k] for k in keys)], runs_dir)
        cells["code"] = row["code"] or "current"
        rows.append({**{k: row[k] for k in [*keys, "reduced"]}, **cells})
    return pd.DataFrame(rows, columns=[*keys, "reduced", *COLUMNS])


def format_commands(commands: tuple, markdown: bool = False) -> str:
    """The *command* cell: one command, or each with its seeds (``; ``-separated)."""

    def shown(command: str) -> str:
        if not markdown or command == NOT_RECORDED:
            return command
        return f"`{command}`".replace("|", "\\|")

    if len(commands) == 1:
        return shown(commands[0][0])
    return "; ".join(f"{shown(c)} (seeds {seeds})" for c, seeds in commands)


def provenance_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a :func:`provenance_frame` as CSV (commands as plain text)."""
    plain = frame.assign(command=frame["command"].map(format_commands))
    plain.to_csv(path, index=False, lineterminator="\n")


def provenance_markdown(frame: pd.DataFrame, cifar: bool = False) -> list[str]:
    """The section ``## Provenance`` of a :func:`provenance_frame`: one table per benchmark
    (MNIST) or per benchmark and target (``cifar``), as the tables above are split."""
    lines = [
        "## Provenance" + (": Split-CIFAR" if cifar else ""),
        "",
        "Generated from the runs of each row above: *seeds*; *commits*: `git_commit` in their "
        "`results.json` (× how many runs, where they differ); *fingerprints*: their "
        f"`code_fingerprint` ({NOT_RECORDED}: written before fingerprints); *code*: as in "
        "the tables; *device*: device and torch threads; *command*: `python -m hypercl.train` "
        "with the runs' own overrides (`.hydra/overrides.yaml`), `<seed>` one of the row's "
        "seeds: at the run's commit it retrains that seed (where the runs differ in other "
        "overrides, each distinct command with its seeds).",
        "",
    ]
    split = ["benchmark", "num_tasks", "target"] if cifar else ["benchmark", "num_tasks"]
    labels = ["method", "budget"] if cifar else ["scenario", "method", "iters/task"]
    for key, block in frame.groupby(split, sort=False):
        title = f"{BENCHMARK_TITLES.get(key[0], key[0])} ({key[1]} tasks)"
        title += f", {TARGET_TITLES.get(key[2], key[2])}" if cifar else ""
        lines += [f"### {title}", "", "| " + " | ".join([*labels, *COLUMNS]) + " |"]
        lines.append("|---" * (len(labels) + len(COLUMNS)) + "|")
        for _, r in block.iterrows():
            named = [r["method"], r["budget"]] if cifar else [r["scenario"].upper(), r["method"]]
            named += [] if cifar else [format_budget(r)]
            cells = [str(r[c]) for c in COLUMNS[:-1]] + [format_commands(r["command"], True)]
            lines.append("| " + " | ".join([*named, *cells]) + " |")
        lines.append("")
    return lines
