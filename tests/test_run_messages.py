"""What a run says when it stops: a NaN stop names a recovery that works (re-running the
same command stops the same way, at the same place, and never skips a task), and losses
reach train.log without a terminal."""

from __future__ import annotations

import pytest
import torch
from test_cli import hypercl_train

from hypercl.config import HNetConfig, ReplayConfig
from hypercl.errors import NonFiniteLossError
from hypercl.replay.training import VAETrainer, phase_logger
from hypercl.replay.vae import ReplayVAE

NAN_ARGS = (
    "method.beta=3e38",
    "train.lr=1",
    "train.iters_per_task=50",
    "train.checkpoint_every=10",
    "train.log_every=10",
    "num_threads=1",
)
NAN_MESSAGE = (
    "hypercl: training stopped: the classifier's loss became NaN or infinite in task 2 at step "
    "2. Lower train.lr (now 1.0) or method.beta (now 3e+38), or check the data, and start a new "
    "run directory (another hydra.run.dir, or hydra.sweep.dir for a sweep): the old one keeps "
    "the last good checkpoint, but resuming it with the same config fails the same way."
)


def test_nan_stop_and_its_rerun_stop_at_the_same_step(tmp_path, mnist_dir):
    args = (*NAN_ARGS, f"hydra.run.dir={tmp_path}")
    first = hypercl_train(*args, data_dir=mnist_dir)
    assert first.returncode == 3
    assert first.stderr.strip().splitlines()[-1] == NAN_MESSAGE
    again = hypercl_train(*args, data_dir=mnist_dir)
    assert again.returncode == 3
    assert again.stderr.strip().splitlines()[-1] == NAN_MESSAGE
    assert not (tmp_path / "results.json").exists()
    log = (tmp_path / "train.log").read_text()
    assert "resuming from" in log and "the end of task 1 (evaluated)" in log
    # losses at train.log_every, without a terminal (the progress bar is off here)
    assert "task 1 step 10/50: loss " in log and "task 1 step 50/50: loss " in log


def replay_keys(hnet_decoder: bool) -> dict[str, object]:
    """The keys a VAE trainer names: HNET+TIR/R's hypernetwork decoder, or DGR's plain one."""
    hnet = HNetConfig(hidden=[8], task_emb_dim=4, chunk_size=100, chunk_emb_dim=4)
    cfg = ReplayConfig(latent_dim=4, enc_hidden=[8], dec_hidden_r=[8], hnet=hnet, dec_lr=0.002)
    vae = ReplayVAE(16, 3, cfg.dec_hidden_r, cfg, hnet_decoder=hnet_decoder)
    return VAETrainer(vae, cfg, 8, True, torch.Generator()).keys_to_lower()


@pytest.mark.parametrize(
    ("phase", "lower", "keys"),
    [
        (
            "VAE",
            replay_keys(hnet_decoder=True),
            "replay.enc_lr (now 0.001), replay.dec_lr (now 0.002), replay.dec_emb_lr (now "
            "0.001) or replay.beta (now 0.01)",
        ),
        (
            "VAE",
            replay_keys(hnet_decoder=False),
            "replay.enc_lr (now 0.001) or replay.dec_lr (now 0.002)",
        ),
        ("task-inference net", {"train.lr": 0.0001}, "train.lr (now 0.0001)"),
    ],
)
def test_nan_stop_of_a_replay_model_has_the_same_message(phase, lower, keys):
    """The VAE and the task-inference net stop as the classifier does, naming their keys
    and values (DGR's plain decoder has no embedding and no regularizer); their loss is
    checked every log_every steps, hence "by step"."""
    on_step = phase_logger(phase, 1, 10, 5, lower)
    on_step(4, {"loss": torch.tensor(float("nan"))})  # not a log step: not checked
    with pytest.raises(NonFiniteLossError) as err:
        on_step(5, {"loss": torch.tensor(float("inf"))})
    assert str(err.value) == (
        f"the {phase}'s loss became NaN or infinite in task 2 by step 5. Lower {keys}, or "
        "check the data, and start a new run directory (another hydra.run.dir, or "
        "hydra.sweep.dir for a sweep): the old one keeps the last good checkpoint, but "
        "resuming it with the same config fails the same way."
    )
