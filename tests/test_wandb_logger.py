"""The W&B logger keeps what a killed process logged and a resumed job continues the same
run; ``check_logger`` refuses an online W&B config that cannot work, in one line, at once."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from wandb_records import history_rows, run_config, run_info

from hypercl.config import LoggerConfig, LoggerKind, WandbMode
from hypercl.errors import ConfigError
from hypercl.report.loggers import HISTORY, NullLogger, build_logger, check_logger, read_history

REPO = Path(__file__).resolve().parent.parent
WANDB = LoggerConfig(kind=LoggerKind.wandb)
ONLINE = LoggerConfig(kind=LoggerKind.wandb, mode=WandbMode.online)

# A job of 2 tasks x 50 steps, losses every 10 steps. Part 1 is killed after step 70 of
# task 2; its last checkpoint was at step 60, so part 2 resumes there and logs 70 again
# (with another value here, to tell which one the history keeps).
PART = """
import os, signal, sys
from pathlib import Path
from hypercl.config import LoggerConfig, LoggerKind
from hypercl.report.loggers import build_logger

run_dir, run_id, part, kill, step = Path(sys.argv[1]), sys.argv[2] or None, *sys.argv[3:]
cfg = LoggerConfig(kind=LoggerKind.wandb)
logger = build_logger(cfg, {"seed": 1}, run_dir, "job", run_id, int(step) if step else None)
print(logger.run_id, flush=True)
if part == "1":
    for step in range(10, 80, 10):
        logger.log_losses(step, step > 50, {"loss": step / 10})
        if step == 50:
            logger.log_task(50, 0, [90.0])
else:
    for step in range(70, 110, 10):
        logger.log_losses(step, 1, {"loss": step / 10 + 0.5})
    logger.log_task(100, 1, [80.0, 95.0])
if kill:
    os.kill(os.getpid(), getattr(signal, kill))
logger.finish(True)
"""


def run_part(
    run_dir: Path, run_id: str, part: int, kill: str = "", resume_step: str = ""
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PART, str(run_dir), run_id, str(part), kill, resume_step],
        cwd=REPO, env=dict(os.environ, WANDB_SILENT="true"), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def steps(records: list[dict], kind: str) -> list[int]:
    return [r["step"] for r in records if r["kind"] == kind]


@pytest.mark.parametrize(
    ("kill", "resume_step"), [("SIGKILL", "60"), ("SIGTERM", "60"), ("SIGKILL", "")]
)  # resume_step "": not given, the logger infers it from the first step logged
def test_killed_part_survives_and_resumed_part_continues_the_same_run(tmp_path, kill, resume_step):
    first = run_part(tmp_path, "", 1, kill)
    assert first.returncode == -getattr(signal, kill), first.stderr[-2000:]
    run_id = first.stdout.strip()
    history = read_history(tmp_path)  # everything part 1 logged is on disk
    assert steps(history, "losses") == [10, 20, 30, 40, 50, 60, 70]
    assert steps(history, "task") == [50]

    second = run_part(tmp_path, run_id, 2, resume_step=resume_step)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.strip() == run_id  # the same W&B run

    history = read_history(tmp_path)
    starts = [r for r in history if r["kind"] == "start"]
    resumed_from = int(resume_step) if resume_step else None
    assert [(r["run_id"], r["resumed_from_step"]) for r in starts] == [
        (run_id, None),
        (run_id, resumed_from),
    ]
    # each step once: part 1's step 70 (logged after its checkpoint) was dropped
    assert steps(history, "losses") == list(range(10, 110, 10))
    assert steps(history, "task") == [50, 100]
    losses = {r["step"]: r["data"]["train/loss"] for r in history if r["kind"] == "losses"}
    assert losses[60] == 6.0 and losses[70] == 7.5
    assert history[-1] == {"kind": "finish", "ok": True}

    # W&B: both parts are directories of the same run id; the resumed part's run file
    # holds the whole history (part 1's replayed), so `wandb sync` of it uploads all.
    runs = sorted(tmp_path.glob("wandb/offline-run-*"))
    assert len(runs) == 2 and {p.name.rsplit("-", 1)[1] for p in runs} == {run_id}
    (run_file,) = runs[-1].glob(f"run-{run_id}.wandb")
    assert run_info(run_file).run_id == run_id
    # offline W&B cannot mark a run resumed (it would ask the server); the config says it
    assert run_config(run_file)["resumed_from_step"] == resumed_from
    rows = history_rows(run_file)
    assert sorted(rows) == list(range(10, 110, 10))
    assert {s: r["train/loss"] for s, r in rows.items()} == losses
    assert rows[50]["test/acc_task_1"] == 90.0 and rows[100]["test/acc_mean_so_far"] == 87.5


@pytest.mark.parametrize("resume_step", [50, None])
def test_metric_logged_again_at_the_checkpoint_step_replaces_the_kept_one(
    tmp_path, monkeypatch, resume_step
):
    """A checkpoint taken before a task's evaluation: the resumed job evaluates again at
    the same step, and the history keeps the new accuracies only."""
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = build_logger(WANDB, {}, tmp_path, "job")
    logger.log_losses(50, 0, {"loss": 1.0})
    logger.log_task(50, 0, [90.0])
    logger.finish(False)
    resumed = build_logger(WANDB, {}, tmp_path, "job", logger.run_id, resume_step)
    resumed.log_task(50, 0, [91.0])
    resumed.finish(True)
    history = read_history(tmp_path)
    assert steps(history, "losses") == [50] and steps(history, "task") == [50]
    assert next(r for r in history if r["kind"] == "task")["data"]["test/acc_task_1"] == 91.0
    run_file = next(sorted(tmp_path.glob("wandb/offline-run-*"))[-1].glob("run-*.wandb"))
    assert history_rows(run_file)[50] == {"task": 1, "train/loss": 1.0, "test/acc_task_1": 91.0,
                                          "test/acc_mean_so_far": 91.0}  # fmt: skip


def test_new_run_starts_a_new_history_and_a_part_that_logs_nothing_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / HISTORY).write_text('{"kind": "losses", "step": 10, "data": {}}\n{"kind": "los')
    assert steps(read_history(tmp_path), "losses") == [10]  # the torn last line left out
    logger = build_logger(WANDB, {}, tmp_path, "job")  # no checkpoint: a new W&B run
    logger.log_losses(10, 0, {"loss": 1.0})
    logger.finish(False)
    assert [r["kind"] for r in read_history(tmp_path)] == ["start", "losses", "finish"]
    again = build_logger(WANDB, {}, tmp_path, "job", logger.run_id)  # dies before logging
    again.finish(False)
    history = read_history(tmp_path)
    assert [r["kind"] for r in history] == ["start", "losses", "finish", "start", "finish"]
    run_file = next(sorted(tmp_path.glob("wandb/offline-run-*"))[-1].glob("run-*.wandb"))
    assert history_rows(run_file) == {10: {"task": 1, "train/loss": 1.0}}  # replayed
    assert isinstance(build_logger(LoggerConfig(), {}, tmp_path, "job"), NullLogger)


# check_logger


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """No W&B credentials anywhere (env, netrc, settings), and wandb's settings reloaded."""
    import wandb

    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    wandb.teardown()  # wandb caches the environment it saw first
    yield monkeypatch
    wandb.teardown()


def check_message(cfg: LoggerConfig) -> str:
    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        check_logger(cfg)
    assert time.monotonic() - started < 6
    message = str(error.value)
    assert "\n" not in message
    return message


def test_check_logger_accepts_what_needs_nothing(wandb_env):
    check_logger(LoggerConfig())
    check_logger(WANDB)  # offline
    check_logger(LoggerConfig(kind=LoggerKind.wandb, mode=WandbMode.disabled))


def test_check_logger_online_without_api_key(wandb_env):
    message = check_message(ONLINE)
    assert message.startswith("logger.mode=online needs W&B credentials for https://")
    for fix in ("`wandb login`", "WANDB_API_KEY", "logger.mode=offline", "wandb sync"):
        assert fix in message


def test_check_logger_online_with_a_malformed_key(wandb_env):
    wandb_env.setenv("WANDB_API_KEY", "dummy")
    assert "the W&B credentials are invalid" in check_message(ONLINE)


class FakeServer(BaseHTTPRequestHandler):
    """A W&B server that answers every request with ``status`` and ``body``; it keeps the
    requests it got."""

    status = 200
    body: dict = {}
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["query"]
        self.received.append((self.path, self.headers["Authorization"], query))
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(json.dumps(self.body).encode())

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("status", "body", "accepted"),
    [
        (200, {"data": {"viewer": {"id": "u"}}}, True),
        (200, {"data": {"viewer": None}}, False),  # a key nobody has
        (401, {"errors": [{"message": "unauthorized"}]}, False),
    ],
)
def test_check_logger_online_asks_the_server_about_the_key(wandb_env, status, body, accepted):
    handler = type("Handler", (FakeServer,), {"status": status, "body": body, "received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wandb_env.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.server_port}")
        wandb_env.setenv("WANDB_API_KEY", "k" * 40)
        if accepted:
            check_logger(ONLINE)
        else:
            message = check_message(ONLINE)
            assert "rejected the API key: run `wandb login --relogin`" in message
            assert "logger.mode=offline" in message
        key = base64.b64encode(b"api:" + b"k" * 40).decode()
        assert handler.received == [("/graphql", f"Basic {key}", "query { viewer { id } }")]
    finally:
        server.shutdown()


def test_check_logger_online_without_network(wandb_env):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wandb_env.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    wandb_env.setenv("WANDB_API_KEY", "k" * 40)
    message = check_message(ONLINE)
    assert f"cannot reach the W&B server http://127.0.0.1:{port}" in message
    assert "logger.mode=offline" in message
