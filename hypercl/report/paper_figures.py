"""The paper's figures from committed run summaries (``results.json`` files), each with a
markdown table beside it: ``python -m hypercl.figures``.

* Permuted-MNIST-100 (``perm_mnist100/``): final accuracy of every task, hypernetwork vs
  online EWC vs SI at the same budget (``REDUCED`` in the title below 5000 iterations per
  task); training time and regularizer memory per task against the task index.
* Compression study (``compression/``): during and final accuracy against the compression
  ratio (log x) of the ``compression_perm_mnist10`` runs, online EWC on the same target as
  a horizontal reference line.

The Split-CIFAR bars (the paper's Figure 4) are drawn with the CIFAR table, by
``python -m hypercl.report.tables results/runs/cifar --name cifar`` (``results/cifar_figures/``).

Runs are found by their fields, not their paths: every ``results.json`` under the runs
directory counts. Methods, ratios or benchmarks without runs are listed as missing (in the
tables and in the returned summary); nothing is drawn for them. Accuracies not measured
(``train.eval_every_task``) are NaN in the means and blank in the tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hypercl.report.markdown import format_float  # noqa: E402
from hypercl.report.provenance import COLUMNS, format_commands, provenance_cells  # noqa: E402
from hypercl.report.runs import (  # noqa: E402
    code_status,
    iters_per_task,
    load_runs,
    mean_matrix,
    method_label,
    number,
    sem,
)

PERM100_METHODS = ("hnet", "online_ewc", "si")
FULL_PERM_ITERS = 5000  # the paper's iterations per task on Permuted-MNIST
COMPRESSION_EXPERIMENT = "compression_perm_mnist10"
ROOT = Path(__file__).resolve().parents[2]  # the repository: conf/


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def _mean_sem(values: Iterable[float | None]) -> str:
    """``mean ± SEM`` over runs (``mean`` alone for one run; empty if any is missing)."""
    s = pd.Series([number(v) for v in values])
    if s.isna().any():
        return ""
    err = sem(s)
    return f"{s.mean():.2f}" if math.isnan(err) else f"{s.mean():.2f} ± {err:.2f}"


def _per_task_mean(runs: list[dict], key: str) -> np.ndarray:
    """Mean over runs of a per-task list field (NaN where a run lacks it or has null)."""
    rows = [[number(v) for v in (r.get(key) or [None] * len(r["acc_matrix"]))] for r in runs]
    return np.array(rows, dtype=float).mean(axis=0)


def _budget_label(iters: int) -> str:
    reduced = iters < FULL_PERM_ITERS
    return f"{iters} it./task" + (f" REDUCED (paper: {FULL_PERM_ITERS})" if reduced else "")


# --- Permuted-MNIST-100 ---------------------------------------------------------------------
def perm100(runs: list[dict], out: Path, runs_dir: Path) -> dict:
    """Figures and ``perm_mnist100/README.md`` for the 100-task runs (``_path`` relative to
    ``runs_dir``, as :func:`~hypercl.report.runs.load_runs` sets it); returns
    ``{"figures": [...], "missing": [...]}``."""
    runs = [r for r in runs if r["benchmark"] == "perm_mnist" and len(r["acc_matrix"]) == 100]
    out.mkdir(parents=True, exist_ok=True)
    figures, missing = [], []
    lines = ["# Permuted-MNIST-100", "", _GENERATED, ""]
    if not runs:
        missing.append("perm_mnist100: no runs (" + ", ".join(PERM100_METHODS) + ")")
        (out / "README.md").write_text("\n".join([*lines, "No runs yet.", ""]))
        return {"figures": figures, "missing": missing}
    cells: dict[tuple, dict[str, list[dict]]] = {}
    for r in runs:
        key = (r["scenario"], iters_per_task(r))
        cells.setdefault(key, {}).setdefault(method_label(r), []).append(r)
    for (scenario, iters), by_method in sorted(cells.items(), key=lambda c: (c[0][0], -c[0][1])):
        stem = f"perm_mnist100_{scenario}_{iters}it"
        title = f"Permuted-MNIST-100 {scenario.upper()}, {_budget_label(iters)}"
        absent = [m for m in PERM100_METHODS if m not in by_method]
        missing += [f"perm_mnist100 {scenario} {iters} it./task: {m}" for m in absent]
        methods = sorted(by_method, key=lambda m: (m not in PERM100_METHODS, m))
        finals = {m: mean_matrix(by_method[m])[-1] for m in methods}
        figures.append(
            _plot_lines(
                out / f"{stem}_final_per_task.png",
                finals,
                "test accuracy after the last task (%)",
                f"{title}\nfinal accuracy per task, mean over seeds",
            )
        )
        times = {m: _per_task_mean(by_method[m], "task_train_time_s") for m in methods}
        memory = {
            m: _per_task_mean(by_method[m], "task_reg_memory_bytes") / 2**20
            for m in methods
            if any(r.get("task_reg_memory_bytes") for r in by_method[m])
        }
        figures.append(_plot_cost(out / f"{stem}_cost_per_task.png", times, memory, title))
        lines += [f"## {title}", ""]
        if absent:
            lines += [f"Missing (no runs): {', '.join(absent)}.", ""]
        lines += [
            f"![final accuracy per task]({stem}_final_per_task.png)",
            f"![cost per task]({stem}_cost_per_task.png)",
            "",
            "| method | n | seeds | final acc. | during acc. | train time / task (s) "
            "| step time (ms) | step time, last task / task 2 "
            "| regularizer memory, last task (MB) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for m in methods:
            group = by_method[m]
            steps = _per_task_mean(group, "task_step_time_s")
            step = np.nanmean(steps) * 1000
            growth = steps[-1] / steps[1]  # the target: within 1.5x
            mem = memory.get(m)
            lines.append(
                f"| {m} | {len(group)} | {' '.join(str(r['seed']) for r in group)} "
                f"| {_mean_sem(r['final_acc_mean'] for r in group)} "
                f"| {_mean_sem(r['during_acc_mean'] for r in group)} "
                f"| {format_float(float(np.nanmean(times[m])) if _any(times[m]) else None)} "
                f"| {format_float(float(step))} | {format_float(float(growth))} "
                f"| {format_float(float(mem[-1]) if mem is not None else None)} |"
            )
        lines += ["", "Final accuracy per task (%, mean over seeds):", ""]
        lines += ["| task | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for j in range(100):
            cells_j = " | ".join(format_float(float(finals[m][j])) for m in methods)
            lines.append(f"| {j + 1} | {cells_j} |")
        lines += ["", *_provenance({m: by_method[m] for m in methods}, runs_dir)]
    (out / "README.md").write_text("\n".join(lines))
    return {"figures": figures, "missing": missing}


def _any(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).any())


def _plot_lines(path: Path, series: dict[str, np.ndarray], ylabel: str, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for label, values in series.items():
        x = np.arange(1, len(values) + 1)
        ax.plot(x, values, marker=".", lw=1, label=f"{label} (mean {np.nanmean(values):.2f})")
    ax.set_xlabel("task")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def _plot_cost(path: Path, times: dict, memory: dict, title: str) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for label, values in times.items():
        if _any(values):
            left.plot(np.arange(1, len(values) + 1), values, lw=1, label=label)
    left.set_xlabel("task")
    left.set_ylabel("training time of the task (s)")
    left.set_title("training time per task, mean over seeds", fontsize=9)
    for label, values in memory.items():
        right.plot(np.arange(1, len(values) + 1), values, lw=1, label=label)
    right.set_xlabel("task")
    right.set_ylabel("output regularizer memory (MiB)")
    right.set_title("regularizer memory while training the task", fontsize=9)
    for ax in (left, right):
        ax.set_ylim(bottom=0)  # the claim is a flat cost: drawn from zero, not zoomed in
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


# --- compression study ----------------------------------------------------------------------
def compression_ratios(conf_dir: Path = ROOT / "conf") -> pd.DataFrame:
    """Every ``conf/compression/*.yaml`` with the study's preset: its chunk size, hidden
    layers, hypernetwork parameters (all embeddings included), target weights and ratio,
    counted on the networks :func:`hypercl.nets.hnets.build_hnet` builds."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import hypercl.config  # noqa: F401  (registers the schema Hydra composes onto)
    from hypercl.metrics import param_counts
    from hypercl.nets.hnets import build_hnet
    from hypercl.nets.targets import build_target

    rows = []
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        for path in sorted((conf_dir / "compression").glob("*.yaml")):
            overrides = [f"experiment={COMPRESSION_EXPERIMENT}", f"compression={path.stem}"]
            cfg = OmegaConf.to_object(compose("config", overrides))
            heads = cfg.benchmark.num_tasks * 10  # Permuted-MNIST, CL1: a 10-unit head per task
            side = 28 + 2 * cfg.benchmark.padding
            target = build_target(
                cfg.target.name,
                side * side,
                heads,
                list(cfg.target.hidden),
                cfg.target.activation,
                (side * side,),
            )
            counts = param_counts(
                build_hnet(cfg.hnet, target.num_params, cfg.benchmark.num_tasks), target.num_params
            )
            rows.append(
                {
                    "compression": path.stem,
                    "chunk_size": cfg.hnet.chunk_size,
                    "hnet_hidden": ",".join(map(str, cfg.hnet.hidden)),
                    **counts,
                }
            )
    return pd.DataFrame(rows)


def ratios_markdown(table: pd.DataFrame) -> list[str]:
    """The ratio table as markdown."""
    lines = [
        "| compression | hnet hidden | chunk size | hnet params (incl. embeddings) "
        "| target weights | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.compression} | {r.hnet_hidden} | {r.chunk_size:,} | {r.num_params_hnet:,} "
            f"| {r.num_params_target:,} | {r.compression_ratio:.4f} |"
        )
    return lines


def compression(
    runs: list[dict],
    out: Path,
    runs_dir: Path,
    expected: pd.DataFrame | None = None,
) -> dict:
    """Accuracy vs compression ratio and ``compression/README.md``; ``expected``: the
    ratio table (:func:`compression_ratios`) whose settings without runs are listed;
    ``runs_dir`` as in :func:`perm100`."""
    out.mkdir(parents=True, exist_ok=True)
    study = [r for r in runs if r.get("experiment") == COMPRESSION_EXPERIMENT]
    lines = ["# Compression study: Permuted-MNIST-10 CL1", "", _GENERATED, ""]
    figures, missing = [], []
    if not study:
        missing.append(f"compression: no {COMPRESSION_EXPERIMENT} runs")
    budgets = sorted({iters_per_task(r) for r in study}, reverse=True)
    for iters in budgets:
        at_budget = [r for r in study if iters_per_task(r) == iters]
        groups: dict[float, list[dict]] = {}
        for r in at_budget:
            groups.setdefault(round(r["compression_ratio"], 6), []).append(r)
        ratios = sorted(groups)
        reference = [
            r
            for r in runs
            if r["benchmark"] == "perm_mnist"
            and len(r["acc_matrix"]) == 10
            and r["scenario"] == "cl1"
            and r["method"] == "online_ewc"
            and iters_per_task(r) == iters
        ]
        title = f"Compression study, Permuted-MNIST-10 CL1, {_budget_label(iters)}"
        if not reference:
            missing.append(f"compression {iters} it./task: online_ewc reference")
        if expected is not None:
            have = {round(x, 6) for x in ratios}
            for r in expected.itertuples():
                if round(r.compression_ratio, 6) not in have:
                    missing.append(
                        f"compression {iters} it./task: {r.compression} "
                        f"(ratio {r.compression_ratio:.3f})"
                    )
        stem = f"compression_{iters}it"
        during = [np.mean([number(r["during_acc_mean"]) for r in groups[x]]) for x in ratios]
        final = [np.mean([r["final_acc_mean"] for r in groups[x]]) for x in ratios]
        final_err = [sem(pd.Series([r["final_acc_mean"] for r in groups[x]])) for x in ratios]
        ref = np.mean([r["final_acc_mean"] for r in reference]) if reference else None
        figures.append(
            _plot_compression(out / f"{stem}.png", ratios, during, final, final_err, ref, title)
        )
        lines += [f"## {title}", "", f"![accuracy vs compression ratio]({stem}.png)", ""]
        anchor = min(range(len(ratios)), key=lambda i: abs(np.log(ratios[i])))  # nearest 1
        lines += [
            f"| ratio | hnet params | n | seeds | during acc. | final acc. "
            f"| final − ratio {ratios[anchor]:.4f}'s |",
            "|---|---|---|---|---|---|---|",
        ]
        for x, fin in zip(ratios, final, strict=True):
            g = groups[x]
            lines.append(
                f"| {x:.4f} | {g[0].get('num_params_hnet') or 0:,} | {len(g)} "
                f"| {' '.join(str(r['seed']) for r in g)} "
                f"| {_mean_sem(r['during_acc_mean'] for r in g)} "
                f"| {_mean_sem(r['final_acc_mean'] for r in g)} | {fin - final[anchor]:+.2f} |"
            )
        if reference:
            lines.append(
                f"| online EWC (reference) | | {len(reference)} "
                f"| {' '.join(str(r['seed']) for r in reference)} "
                f"| {_mean_sem(r['during_acc_mean'] for r in reference)} "
                f"| {_mean_sem(r['final_acc_mean'] for r in reference)} "
                f"| {ref - final[anchor]:+.2f} |"
            )
        lines += ["", _compressed_within_a_point(ratios, final, anchor)]
        rows = {f"ratio {x:.4f}": groups[x] for x in ratios}
        rows.update({"online EWC (reference)": reference} if reference else {})
        lines += ["", *_provenance(rows, runs_dir)]
        lines += _other_beta(
            runs,
            {_beta(r) for r in at_budget},
            iters,
            dict(zip(ratios, final, strict=True)),
            runs_dir,
        )
    if missing:
        lines += ["Missing runs:", "", *[f"- {m}" for m in missing], ""]
    if expected is not None:
        lines += ["Settings of the study (`python -m hypercl.figures --ratios`):", ""]
        lines += [*ratios_markdown(expected), ""]
    (out / "README.md").write_text("\n".join(lines))
    return {"figures": figures, "missing": missing}


def _beta(run: dict) -> float | None:
    return (run.get("method_hparams") or {}).get("beta")


def _other_beta(
    runs: list[dict], study_betas: set, iters: int, study_final: dict, runs_dir: Path
) -> list[str]:
    """Diagnostic runs beside the study: Permuted-MNIST-10 CL1 hypernetworks at the same
    budget with a β not in ``study_betas`` (an ablation, e.g. ``results/runs/diag``), a
    table per β: final accuracy against the ratio, minus the same β's at the study's ratio
    nearest 1 where that ratio ran, minus the study's there, and minus the study's at the
    same ratio."""
    others = [
        r
        for r in runs
        if r.get("experiment") != COMPRESSION_EXPERIMENT
        and r["benchmark"] == "perm_mnist"
        and len(r["acc_matrix"]) == 10
        and r["scenario"] == "cl1"
        and r["method"] == "hnet"
        and iters_per_task(r) == iters
        and _beta(r) not in study_betas | {None}  # None: not recorded by older runs
        and r.get("compression_ratio")
    ]
    if not others:
        return []
    study_anchor = min(study_final, key=lambda x: abs(np.log(x)))
    lines = [
        f"### Other β (diagnostic runs, not in the figure; the study's β: "
        f"{', '.join(f'{b:g}' for b in sorted(study_betas))})",
        "",
    ]
    for beta in sorted({_beta(r) for r in others}):
        groups: dict[float, list[dict]] = {}
        for r in others:
            if _beta(r) == beta:
                groups.setdefault(round(r["compression_ratio"], 6), []).append(r)
        ratios = sorted(groups)
        final = [np.mean([r["final_acc_mean"] for r in groups[x]]) for x in ratios]
        anchor = ratios.index(study_anchor) if study_anchor in ratios else None
        own = f"final − ratio {study_anchor:.4f}'s at β {beta:g}"
        lines += [
            f"| β | ratio | n | seeds | during acc. | final acc. | {own} "
            f"| final − the study's ratio {study_anchor:.4f}'s "
            "| final − the study's at this ratio |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for x, fin in zip(ratios, final, strict=True):
            g = groups[x]
            to_own = "" if anchor is None else f"{fin - final[anchor]:+.2f}"
            to_study = f"{fin - study_final[x]:+.2f}" if x in study_final else ""
            lines.append(
                f"| {beta:g} | {x:.4f} | {len(g)} | {' '.join(str(r['seed']) for r in g)} "
                f"| {_mean_sem(r['during_acc_mean'] for r in g)} "
                f"| {_mean_sem(r['final_acc_mean'] for r in g)} | {to_own} "
                f"| {fin - study_final[study_anchor]:+.2f} | {to_study} |"
            )
        lines.append("")
        if anchor is not None:
            sentence = _compressed_within_a_point(ratios, final, anchor)
            lines += [f"At β {beta:g}, {sentence[0].lower()}{sentence[1:]}", ""]
        else:
            lines += [
                f"At β {beta:g}: ratio {study_anchor:.4f} not run, no comparison at equal β.",
                "",
            ]
        rows = {f"β {beta:g}, ratio {x:.4f}": groups[x] for x in ratios}
        lines += _provenance(rows, runs_dir)
    return lines


def _compressed_within_a_point(ratios: list[float], final: list[float], anchor: int) -> str:
    """The sentence that checks the study's claim: which ratios below 0.3 keep the final
    accuracy within 1 point of the ratio nearest 1 (``anchor``, an index)."""
    small = [(x, f - final[anchor]) for x, f in zip(ratios, final, strict=True) if x < 0.3]
    head = f"Ratios below 0.3 within 1 point of ratio {ratios[anchor]:.4f}'s final accuracy: "
    if not small:
        return head + "none measured."
    kept = [f"{x:.4f} ({d:+.2f})" for x, d in small if d >= -1.0]
    if kept:
        return head + ", ".join(kept) + "."
    x, d = max(small, key=lambda xd: xd[1])
    return head + f"none (closest: {x:.4f}, {d:+.2f})."


def _plot_compression(path, ratios, during, final, final_err, ref, title) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(ratios, during, marker="o", ls="--", label="hnet during")
    ax.errorbar(
        ratios, final, yerr=np.nan_to_num(final_err), marker="s", capsize=3, label="hnet final"
    )
    if ref is not None:
        ax.axhline(ref, color="gray", ls=":", label=f"online EWC final ({ref:.2f})")
    ax.set_xscale("log")
    ax.set_xticks(ratios, [f"{r:.2g}" for r in ratios])  # the measured ratios, no minor labels
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("compression ratio (hnet parameters incl. embeddings / target weights)")
    ax.set_ylabel("task-averaged test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def _provenance(rows: dict[str, list[dict]], runs_dir: Path) -> list[str]:
    """A markdown table: for each labelled group of runs, where they come from (the columns
    of :data:`hypercl.report.provenance.COLUMNS`, as in the tables' Provenance sections)."""
    lines = [
        "Provenance: *commits* and *fingerprints* as recorded in each run's `results.json`; "
        "*code*: `current` or stale against this checkout; *device*: device and torch threads "
        "(of the process that finished the run); *command*: `python -m hypercl.train` with "
        "the run's own overrides, which retrains one seed at the run's commit.",
        "",
        "| row | " + " | ".join(COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for label, group in rows.items():
        cells = provenance_cells(group, runs_dir)
        stale = sum(bool(r.get("_stale", True)) for r in group)
        cells["code"] = code_status(stale, len(group)) or "current"
        cells["command"] = format_commands(cells["command"], markdown=True)
        lines.append(f"| {label} | " + " | ".join(str(cells[c]) for c in COLUMNS) + " |")
    return [*lines, ""]


_GENERATED = (
    "Generated by `python -m hypercl.figures` from the `results.json` files under the runs "
    "directory; do not edit by hand. Blank cells: not measured (`train.eval_every_task`) or "
    "not recorded by the run."
)


def build(runs_dir: Path, out: Path, ratios: bool = True) -> dict:
    """Both figure sets under ``out``; returns their figures and what is missing.
    ``ratios``: also compute the compression settings' ratios (builds the networks)."""
    runs = load_runs(runs_dir) if runs_dir.exists() else []
    expected = compression_ratios() if ratios else None
    parts = {
        "perm_mnist100": perm100(runs, out / "perm_mnist100", runs_dir),
        "compression": compression(runs, out / "compression", runs_dir, expected),
    }
    return {
        "runs": len(runs),
        "figures": [p for part in parts.values() for p in part["figures"]],
        "missing": [m for part in parts.values() for m in part["missing"]],
    }
