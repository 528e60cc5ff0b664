"""Experiment loggers: nothing, or Weights & Biases through wandb's own API.

(Avalanche's ``WandBLogger`` is not used: it calls APIs that current wandb removed.)
A logger receives plain numbers; it never touches tensors or models.

What survives a crash. wandb hands every record to its ``wandb-core`` service process,
which writes the offline run file (``run-<id>.wandb``) only every 15 s and, when the
training process dies without ``finish`` (SIGKILL, or a signal nobody handles), stops
without writing what it holds: the file of a run killed in its first 15 s is 7 bytes,
and even a flushed file lacks the last step's row. So the W&B logger also appends every
record to ``<run dir>/wandb_history.jsonl`` (:data:`HISTORY`), one JSON object a line,
flushed to the OS per record. A resumed job continues the same W&B run id: it drops the
records logged after the checkpoint it resumes from (it logs those steps again) and
replays the others into its W&B run, so the resumed part's run file holds the whole
history. ``wandb sync <run dir>/wandb/latest-run`` then uploads all of it (offline W&B
cannot mark a run as resumed; the run's config says ``resumed_from_step``).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from hypercl.config import LoggerConfig, LoggerKind, WandbMode
from hypercl.errors import ConfigError
from hypercl.launch.sweeps import job_context

HISTORY = "wandb_history.jsonl"  # in the run dir: every record the W&B logger logged
PROBE_TIMEOUT_S = 4.0  # check_logger's wait for the W&B server (online mode)


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


def read_history(run_dir: Path) -> list[dict]:
    """The records of ``run_dir``'s :data:`HISTORY`, oldest first ([] without one).

    Kinds: ``start`` (run_id, resumed_from_step), ``losses`` and ``task`` (step, data: the
    metrics given to ``wandb.log``), ``results`` (data: the scalar results and acc_matrix),
    ``finish`` (ok). A torn last line (the process died while writing it) is left out.
    """
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # only the last line can be torn: a write is one line
    return records


class WandbLogger(NullLogger):
    """One W&B run per job; offline by default (``wandb sync`` uploads it later).

    Args:
        cfg: project, entity, group, tags and mode (offline|online|disabled).
        config: the resolved experiment config as a plain dict; the Hydra job's overrides
            (``overrides``) and, in a multirun, its sweep (``sweep``: dir, job_num, sweeper)
            are added, so the W&B UI can filter and group a sweep's runs by them.
        run_dir: the job's directory; W&B files go to ``run_dir/wandb``, the durable copy
            of every record to ``run_dir/wandb_history.jsonl``.
        name: the run's display name.
        run_id: the id of the run to continue (a resumed job), or None for a new run.
        resume_step: with ``run_id``: the global step of the checkpoint the job resumes
            from. The records the interrupted process logged at later steps are dropped,
            because the resumed job logs those steps again; the others are replayed into
            this W&B run. None: the first metric this job logs, at step ``s``, tells: the
            records from step ``s`` on (at ``s`` itself, those of its kind) are dropped.

    A metric kept from the interrupted process that this one logs again (the same kind and
    step, e.g. a task's accuracies when the checkpoint preceded its evaluation) replaces the
    kept one, so the history holds every (kind, step) once.
    """

    def __init__(
        self,
        cfg: LoggerConfig,
        config: dict,
        run_dir: Path,
        name: str,
        run_id: str | None = None,
        resume_step: int | None = None,
    ) -> None:
        import wandb

        self.wandb = wandb
        self.path = Path(run_dir) / HISTORY
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            tags=list(cfg.tags),
            name=name,
            config={**config, **job_context(), "resumed_from_step": resume_step},
            dir=str(run_dir),
            mode=cfg.mode.value,
            reinit="finish_previous",
            id=run_id,
            resume="allow" if run_id else None,
        )
        self.run_id = self.run.id
        self._kept: set[tuple[str, int]] = set()
        self._unsettled = run_id is not None and resume_step is None
        if run_id is None:  # a new run: a history left by another run id is not its own
            self._write_history([])
        elif resume_step is not None:
            records = read_history(self.path.parent)
            self._settle([r for r in records if r.get("step", resume_step) <= resume_step])
        else:
            self.history = open(self.path, "a")  # noqa: SIM115 (closed by finish)
        start = {"kind": "start", "run_id": self.run_id, "resumed_from_step": resume_step}
        self._append(start)

    def _write_history(self, records: list[dict]) -> None:
        """Replace the history file by ``records`` (atomically) and open it to append."""
        if getattr(self, "history", None) is not None:
            self.history.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            f.writelines(json.dumps(record) + "\n" for record in records)
        os.replace(tmp, self.path)
        self.history = open(self.path, "a")  # noqa: SIM115 (closed by finish)

    def _settle(self, kept: list[dict]) -> None:
        """Keep ``kept`` of the interrupted process's records and replay them into this W&B
        run: all of them offline (each resumed part has a new run file); online, the steps
        the server has not got (``run.step`` is its next step)."""
        self._unsettled = False
        self._write_history(kept)
        for record in kept:
            if record["kind"] in ("losses", "task"):
                self._kept.add((record["kind"], record["step"]))
                if record["step"] >= self.run.step:
                    self.run.log(record["data"], step=record["step"])

    def _append(self, record: dict) -> None:
        self.history.write(json.dumps(record) + "\n")
        self.history.flush()  # in the OS's hands: survives SIGKILL (not a power cut)

    def _log(self, kind: str, step: int, data: dict[str, Any]) -> None:
        if self._unsettled:  # resume_step unknown: this first metric tells what is stale
            self._settle(
                [
                    r
                    for r in read_history(self.path.parent)
                    if r.get("step", -1) < step or (r["step"] == step and r["kind"] != kind)
                ]
            )
        if (kind, step) in self._kept:
            self._kept.discard((kind, step))
            records = read_history(self.path.parent)
            self._write_history([r for r in records if (r["kind"], r.get("step")) != (kind, step)])
        self._append({"kind": kind, "step": step, "data": data})
        self.run.log(data, step=step)

    def log_losses(self, step: int, task_id: int, losses: dict[str, float]) -> None:
        self._log(
            "losses", step, {"task": task_id + 1, **{f"train/{k}": v for k, v in losses.items()}}
        )

    def log_task(self, step: int, task_id: int, accuracies: list[float | None]) -> None:
        # accuracies[j]: task j's; None where not measured (train.eval_every_task)
        metrics = {f"test/acc_task_{j + 1}": a for j, a in enumerate(accuracies) if a is not None}
        if metrics:
            metrics["test/acc_mean_so_far"] = sum(metrics.values()) / len(metrics)
        self._log("task", step, {"task": task_id + 1, **metrics})

    def log_results(self, results: dict, matrix_png: Path) -> None:
        if self._unsettled:  # nothing was left to train: every record stands
            self._settle(read_history(self.path.parent))
        acc = results["acc_matrix"]
        scalars = {
            k: v for k, v in results.items() if isinstance(v, int | float | str | type(None))
        }
        self._append({"kind": "results", "data": {**scalars, "acc_matrix": acc}})
        columns = ["after_task", *[f"task_{j + 1}" for j in range(len(acc))]]
        table = self.wandb.Table(columns=columns, data=[[i + 1, *row] for i, row in enumerate(acc)])
        self.run.log({"acc_matrix": table, "acc_matrix_plot": self.wandb.Image(str(matrix_png))})
        self.run.summary.update(scalars)

    def finish(self, ok: bool) -> None:
        if self._unsettled:  # stopped before logging a metric: the history stays as it is
            self._settle(read_history(self.path.parent))
        self._append({"kind": "finish", "ok": ok})
        self.history.close()
        self.run.finish(exit_code=0 if ok else 1)
        # run.finish() can return before wandb-core has written the run file (measured: 2 of
        # 8 in-process runs read a 7-byte file just after it); stopping the service waits
        # for the file. The next wandb.init in this process starts a new service.
        try:
            self.wandb.teardown()
        except SystemExit:  # wandb-core's own non-zero exit: not the run's outcome
            pass


def build_logger(
    cfg: LoggerConfig,
    config: dict,
    run_dir: Path,
    name: str,
    run_id: str | None = None,
    resume_step: int | None = None,
) -> NullLogger:
    """The logger named by ``cfg.kind``; ``run_id`` continues an earlier W&B run from the
    checkpoint at global step ``resume_step`` (see :class:`WandbLogger`)."""
    if cfg.kind == LoggerKind.wandb:
        return WandbLogger(cfg, config, run_dir, name, run_id, resume_step)
    return NullLogger()


def check_logger(cfg: LoggerConfig) -> None:
    """Raise a one-line :class:`ConfigError` if ``cfg`` cannot work, before any work starts.

    Online W&B needs credentials (``WANDB_API_KEY``, ``wandb login``'s netrc entry) and the
    server: it is asked once (at most :data:`PROBE_TIMEOUT_S`), which also catches a
    rejected key. Offline and disabled modes need nothing.
    """
    if cfg.kind != LoggerKind.wandb:
        return
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ConfigError(
            "logger=wandb needs the wandb package: `pip install wandb`, or logger=none"
        ) from None
    if cfg.mode != WandbMode.online:
        return
    offline = "or use logger.mode=offline (and `wandb sync <run dir>/wandb/latest-run` later)"
    host, api_key = _wandb_credentials(offline)
    problem = _probe(host, api_key)
    if problem is not None:
        raise ConfigError(f"logger.mode=online: {problem}, {offline}")


def _wandb_credentials(offline: str) -> tuple[str, str | None]:
    """The W&B server URL wandb.init will use and the API key found for it (None: the
    credentials are an identity token, not a key). Raises ConfigError without any."""
    try:  # wandb's settings: the environment, then its settings files
        from wandb.sdk import wandb_setup

        host = wandb_setup.singleton().settings.base_url
    except (ImportError, AttributeError):  # an older wandb
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    no_key = (
        f"logger.mode=online needs W&B credentials for {host} and none are configured: "
        f"run `wandb login`, set WANDB_API_KEY, {offline}"
    )
    try:
        from wandb.sdk.lib.wbauth import authenticate
    except ImportError:  # an older wandb: look where `wandb login` and users put keys
        api_key = _legacy_api_key(host)
        if api_key is None:
            raise ConfigError(no_key) from None
        return host, api_key
    try:
        auth = authenticate.authenticate_session(
            host=host, source="hypercl", prompt=False, update_session=False
        )
    except Exception as e:  # wandb's AuthenticationError: a key of the wrong format
        reason = str(e).rstrip(".")
        raise ConfigError(
            f"logger.mode=online: the W&B credentials are invalid ({reason}): fix "
            f"WANDB_API_KEY or run `wandb login --relogin`, {offline}"
        ) from None
    if auth is None:
        raise ConfigError(no_key)
    return host, getattr(auth, "api_key", None)


def _legacy_api_key(host: str) -> str | None:
    import netrc
    from urllib.parse import urlsplit

    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
    try:
        creds = netrc.netrc(os.environ.get("NETRC")).authenticators(urlsplit(host).netloc)
    except (OSError, netrc.NetrcParseError):
        return None
    return creds[2] if creds else None


def _probe(host: str, api_key: str | None) -> str | None:
    """Ask the W&B server who the key belongs to; a problem in words, or None if the server
    answered and did not reject the key. Waits at most PROBE_TIMEOUT_S + 0.5 s."""
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        host.rstrip("/") + "/graphql",
        data=json.dumps({"query": "query { viewer { id } }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    if api_key:
        token = base64.b64encode(f"api:{api_key}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    answer: dict[str, str | None] = {}

    def ask() -> None:
        try:
            with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
                body = response.read()
        except urllib.error.HTTPError as e:  # the server answered
            answer["problem"] = _rejected(host) if e.code in (401, 403) and api_key else None
            return
        except (OSError, ValueError) as e:  # no connection, TLS, timeout, a bad URL
            reason = getattr(e, "reason", e)
            answer["problem"] = (
                f"cannot reach the W&B server {host} ({reason}): check the network or proxy"
            )
            return
        try:  # a key the server does not know gets {"data": {"viewer": null}}
            viewer = json.loads(body)["data"]["viewer"]
        except (ValueError, TypeError, KeyError):  # some other answer: not our business
            viewer = ""
        answer["problem"] = _rejected(host) if api_key and viewer is None else None

    thread = threading.Thread(target=ask, daemon=True)  # DNS ignores socket timeouts
    thread.start()
    thread.join(PROBE_TIMEOUT_S + 0.5)
    if "problem" not in answer:
        return (
            f"the W&B server {host} did not answer within {PROBE_TIMEOUT_S:g} s: "
            "check the network or proxy"
        )
    return answer["problem"]


def _rejected(host: str) -> str:
    return (
        f"the W&B server {host} rejected the API key: "
        "run `wandb login --relogin` or fix WANDB_API_KEY"
    )
