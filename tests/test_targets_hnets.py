import pytest
import torch
from torch import nn

from hypercl.config import Activation, ConfigError, HNetConfig, HNetKind
from hypercl.nets.hnets import ChunkedHyperNetwork, FullHyperNetwork, build_hnet
from hypercl.nets.targets import FunctionalTarget, build_target, mlp_template


@pytest.mark.parametrize(
    "in_features,hidden,out_features,chunk_size",
    [
        (784, [400, 400], 10, 42000),
        (1024, [1000, 1000], 100, 78000),
        (5, [3], 2, 7),
        (8, [], 4, 36),
    ],
)
def test_chunked_output_length_equals_target_param_count(
    in_features, hidden, out_features, chunk_size
):
    target = build_target("mlp", in_features, out_features, hidden, Activation.relu)
    expected = sum(
        p.numel()
        for p in mlp_template(in_features, hidden, out_features, Activation.relu).parameters()
    )
    assert target.num_params == expected
    hnet = ChunkedHyperNetwork(target.num_params, 3, 4, chunk_size, 5, [6, 7])
    out = hnet(torch.tensor([0, 2]))
    assert out.shape == (2, expected)


def test_paper_split_mnist_counts_and_compression_ratio():
    target = build_target("mlp", 784, 10, [400, 400], Activation.relu)
    hnet = build_hnet(HNetConfig(), target.num_params, num_tasks=5)
    assert target.num_params == 478410
    n_hnet = sum(p.numel() for p in hnet.parameters())
    assert n_hnet == 465672  # 464040 net + 12 x 96 chunk embs + 5 x 96 task embs
    assert n_hnet / target.num_params == pytest.approx(0.973, abs=1e-3)


def test_functional_target_matches_module_twin():
    torch.manual_seed(0)
    module = mlp_template(12, [9, 7], 3, Activation.elu)
    target = FunctionalTarget(mlp_template(12, [9, 7], 3, Activation.elu))
    flat = torch.cat([p.detach().flatten() for p in module.parameters()])
    x = torch.randn(5, 12)
    torch.testing.assert_close(target(x, flat), module(x), rtol=0, atol=0)


def test_target_ignores_padding_after_its_weights():
    target = FunctionalTarget(mlp_template(12, [9, 7], 3, Activation.elu))
    flat = torch.randn(target.num_params)
    x = torch.randn(5, 12)
    padded = torch.cat([flat, torch.full((40,), float("nan"))])
    torch.testing.assert_close(target(x, padded), target(x, flat), rtol=0, atol=0)


def test_target_rejects_wrong_weight_count():
    target = build_target("mlp", 4, 2, [3], Activation.relu)
    with pytest.raises(ValueError, match=f"expected {target.num_params} target weights, got 5"):
        target(torch.zeros(1, 4), torch.zeros(5))


@pytest.mark.parametrize("kind", ["full", "chunked"])
def test_batched_forward_equals_one_task_at_a_time(kind):
    torch.manual_seed(0)
    if kind == "full":
        hnet = FullHyperNetwork(50, 4, 3, [8])
    else:
        hnet = ChunkedHyperNetwork(50, 4, 3, 16, 2, [8, 8], Activation.elu)
    batched = hnet(torch.tensor([3, 1, 0]))
    single = torch.cat([hnet(torch.tensor([t])) for t in [3, 1, 0]])
    torch.testing.assert_close(batched, single)
    assert not torch.equal(batched[0], batched[1])  # embeddings differ -> weights differ


def test_initialisation_xavier_weights_zero_biases():
    hnet = ChunkedHyperNetwork(1000, 2, 4, 100, 4, [10])
    linears = [m for m in hnet.modules() if isinstance(m, nn.Linear)]
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears)
    bound = (6 / (10 + 100)) ** 0.5
    assert hnet.head.weight_t.abs().max() <= bound


def test_chunk_size_larger_than_target_is_rejected():
    cfg = HNetConfig(kind=HNetKind.chunked, chunk_size=10_000)
    with pytest.raises(ConfigError, match=r"hnet.chunk_size=10000 is invalid: larger than"):
        build_hnet(cfg, num_params=500, num_tasks=2)


def test_hidden_free_chunked_hnet_is_a_linear_map():
    hnet = ChunkedHyperNetwork(30, 2, 3, 10, 2, hidden=[])
    z = hnet.rows(torch.tensor([0]))
    assert z.shape == (1, 3, 5)  # rows are the raw [task emb; chunk emb] inputs
