"""The replay VAE (hypercl.replay): the decoder hypernetwork's output regularizer keeps an
earlier task's decoder weights in place, sampling is a function of the generator, and the
one-hot condition grows past the official 100 tasks. Small synthetic tasks (64 pixels)."""

from __future__ import annotations

import pytest
import torch

from hypercl.config import Activation, HNetConfig, ReplayConfig
from hypercl.data.tasks import TaskData
from hypercl.replay.training import VAETrainer
from hypercl.replay.vae import ReplayVAE

pytestmark = pytest.mark.usefixtures("one_thread")

D = 64


def small_cfg(beta: float) -> ReplayConfig:
    hnet = HNetConfig(
        hidden=[10, 10], activation=Activation.elu, task_emb_dim=8, chunk_size=700, chunk_emb_dim=8
    )
    return ReplayConfig(latent_dim=8, enc_hidden=[32], dec_hidden_r=[32, 32], hnet=hnet, beta=beta)


def blob_task(seed: int, n: int = 256) -> TaskData:
    """Binary-ish images around a random prototype: x [n, 64] in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    proto = (torch.rand(D, generator=gen) > 0.5).float()
    x = (proto + 0.3 * torch.randn(n, D, generator=gen)).clamp(0, 1)
    y = torch.zeros(n, dtype=torch.long)
    return TaskData(x, y, x[:10], y[:10])


def task1_drift(beta: float) -> float:
    """||H(e_1) after training task 2 - H(e_1) after task 1|| / ||H(e_1)||."""
    torch.manual_seed(0)
    cfg = small_cfg(beta)
    vae = ReplayVAE(D, 3, cfg.dec_hidden_r, cfg)
    trainer = VAETrainer(vae, cfg, 32, lookahead=True, generator=torch.Generator().manual_seed(1))
    ids = torch.tensor([0])
    trainer.train_task(0, blob_task(10), 150)
    before = vae.decoder_weights(ids).detach().clone()
    trainer.train_task(1, blob_task(11), 150)
    after = vae.decoder_weights(ids).detach()
    return float((after - before).norm() / before.norm())


def test_the_regularizer_keeps_task_1s_decoder_while_task_2_trains():
    free = task1_drift(beta=0.0)
    assert free > 0.3  # measured 0.48: without the regularizer task 1's decoder moves
    assert task1_drift(beta=0.01) < free / 5  # the official strength: 0.059 measured
    assert task1_drift(beta=100.0) < 0.005  # a strong one holds it: 0.0019 measured


def test_sampling_is_a_function_of_the_generator():
    torch.manual_seed(0)
    cfg = small_cfg(0.01)
    vae = ReplayVAE(D, 3, cfg.dec_hidden_r, cfg)
    ids = torch.tensor([0, 1])
    a = vae.sample(ids, 5, torch.Generator().manual_seed(3))
    b = vae.sample(ids, 5, torch.Generator().manual_seed(3))
    c = vae.sample(ids, 5, torch.Generator().manual_seed(4))
    assert a.shape == (2, 5, D) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # each task's own weights and condition


def test_the_condition_grows_past_100_tasks_and_dgr_keeps_one_weight_set():
    cfg = small_cfg(0.01)
    vae = ReplayVAE(D, 150, cfg.dec_hidden_r, cfg)
    assert vae.cond_dim == 150 and vae.dec_hnet.num_tasks == 149
    assert vae.sample(torch.tensor([148]), 2, torch.Generator()).shape == (1, 2, D)
    assert ReplayVAE(D, 5, cfg.dec_hidden_r, cfg).cond_dim == 100  # the official size
    plain = ReplayVAE(D, 5, cfg.dec_hidden_r, cfg, hnet_decoder=False)
    assert plain.dec_hnet is None and plain.param_counts()["num_params_replay_hnet"] == 0
    assert plain.decoder_weights(torch.tensor([0, 3])).shape == (2, plain.decoder.num_params)
