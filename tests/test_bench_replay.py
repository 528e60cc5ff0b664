"""The replay phases make the replay decoder's weights once per phase, not at every step
(``hypercl.bench.replay`` times both ways), and both ways train the same parameters."""

from __future__ import annotations

import torch
from test_train_run import compose_config

from hypercl.bench.replay import weights_every_step
from hypercl.experiment import build


def infer_net_after_task_2(mnist_dir, emulate_old: bool) -> tuple[dict, int]:
    """The task-inference net's parameters after 3 steps of HNET+TIR's task 2, and the
    number of times the decoder's weights were made during those steps."""
    cfg = compose_config(
        "experiment=split_mnist_cl3", "method.task_inference=tir", "train.iters_per_task=3",
        f"data_dir={mnist_dir}",
    )  # fmt: skip
    torch.manual_seed(0)  # the nets' initialisation
    _, method = build(cfg, torch.Generator().manual_seed(1), torch.device("cpu"))
    made = []
    vae = method.vae
    original = vae.decoder_weights
    vae.decoder_weights = lambda ids: made.append(len(ids)) or original(ids)
    run = lambda: method.train_infer_net(1, method.tasks[1], lambda step, losses: None)  # noqa: E731
    (weights_every_step(vae, run) if emulate_old else run)()
    return {k: v.clone() for k, v in method.infer_net.state_dict().items()}, len(made)


def test_replay_weights_are_made_once_per_phase_with_the_same_result(mnist_dir):
    once, made_once = infer_net_after_task_2(mnist_dir, emulate_old=False)
    every, made_every = infer_net_after_task_2(mnist_dir, emulate_old=True)
    assert (made_once, made_every) == (1, 1 + 3)  # the emulation makes them at each step too
    for name, value in once.items():
        assert torch.equal(value, every[name]), name
