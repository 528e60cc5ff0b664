"""Experiment loggers: nothing, or Weights & Biases through wandb's own API.

(Avalanche's ``WandBLogger`` is not used: it calls APIs that current wandb removed.)
A logger receives plain numbers; it never touches tensors or models.
"""

from __future__ import annotations

from pathlib import Path

from hypercl.config import LoggerConfig, LoggerKind
from hypercl.sweeps import job_context


class NullLogger:
    """Logs nothing."""

    run_id: str | None = None

    def log_losses(self, step: int, task_id: int, losses: dict[str, float]) -> None:
        pass

    def log_task(self, step: int, task_id: int, accuracies: list[float]) -> None:
        pass

    def log_results(self, results: dict, matrix_png: Path) -> None:
        pass

    def finish(self, ok: bool) -> None:
        pass


class WandbLogger(NullLogger):
    """One W&B run per job; offline by default (``wandb sync`` uploads it later).

    Args:
        cfg: project, entity, group, tags and mode (offline|online|disabled).
        config: the resolved experiment config as a plain dict; the Hydra job's overrides
            (``overrides``) and, in a multirun, its sweep (``sweep``: dir, job_num, sweeper)
            are added, so the W&B UI can filter and group a sweep's runs by them.
        run_dir: the job's directory; W&B files go to ``run_dir/wandb``.
        name: the run's display name.
        run_id: the id of the run to continue (a resumed job), or None for a new run.
    """

    def __init__(
        self, cfg: LoggerConfig, config: dict, run_dir: Path, name: str, run_id: str | None = None
    ) -> None:
        import wandb

        self.wandb = wandb
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            tags=list(cfg.tags),
            name=name,
            config={**config, **job_context()},
            dir=str(run_dir),
            mode=cfg.mode.value,
            reinit="finish_previous",
            id=run_id,
            resume="allow" if run_id else None,
        )
        self.run_id = self.run.id

    def log_losses(self, step: int, task_id: int, losses: dict[str, float]) -> None:
        self.run.log(
            {"task": task_id + 1, **{f"train/{k}": v for k, v in losses.items()}}, step=step
        )

    def log_task(self, step: int, task_id: int, accuracies: list[float]) -> None:
        metrics = {f"test/acc_task_{j + 1}": a for j, a in enumerate(accuracies)}
        metrics["test/acc_mean_so_far"] = sum(accuracies) / len(accuracies)
        self.run.log({"task": task_id + 1, **metrics}, step=step)

    def log_results(self, results: dict, matrix_png: Path) -> None:
        acc = results["acc_matrix"]
        columns = ["after_task", *[f"task_{j + 1}" for j in range(len(acc))]]
        table = self.wandb.Table(columns=columns, data=[[i + 1, *row] for i, row in enumerate(acc)])
        self.run.log({"acc_matrix": table, "acc_matrix_plot": self.wandb.Image(str(matrix_png))})
        self.run.summary.update(
            {k: v for k, v in results.items() if isinstance(v, int | float | str | type(None))}
        )

    def finish(self, ok: bool) -> None:
        self.run.finish(exit_code=0 if ok else 1)


def build_logger(
    cfg: LoggerConfig, config: dict, run_dir: Path, name: str, run_id: str | None = None
) -> NullLogger:
    """The logger named by ``cfg.kind``; ``run_id`` continues an earlier W&B run."""
    if cfg.kind == LoggerKind.wandb:
        return WandbLogger(cfg, config, run_dir, name, run_id)
    return NullLogger()
