"""params_stored_per_task / params_stored_total of the hypernetwork-harness methods."""

import torch
from test_train_run import compose_config

from hypercl.methods.learner import build_learner
from hypercl.metrics import count_params, hnet_stored_params
from hypercl.nets.heads import Heads


def _learner(*overrides):
    cfg = compose_config(*overrides)
    return cfg, build_learner(cfg, 784, Heads(5, 2), 5, torch.Generator().manual_seed(0))


def test_hnet_stores_the_hypernetwork_and_one_embedding_per_task():
    cfg, learner = _learner("experiment=split_mnist_cl1")
    stored = hnet_stored_params(learner.hnet, learner.target.buffer_numel, True)
    assert stored["params_stored_per_task"] == cfg.hnet.task_emb_dim == 96
    assert stored["params_stored_total"] == count_params(learner.hnet)
    assert stored["params_stored_total"] < learner.target.num_params  # chunked: compresses


def test_from_scratch_stores_one_target_per_task():
    _, learner = _learner("experiment=split_mnist_cl1", "method.name=from_scratch", "method.beta=0")
    stored = hnet_stored_params(learner.hnet, learner.target.buffer_numel, True)
    p = learner.target.num_params
    assert stored == {"params_stored_per_task": p, "params_stored_total": 5 * p}
