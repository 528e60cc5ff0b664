"""The regularizer can leave out the output heads a task does not use (paper's CIFAR setting)."""

import pytest
import torch

from hypercl.config import Activation, RegImpl, RegTargets
from hypercl.methods.regularizer import OutputRegularizer
from hypercl.nets.heads import Heads
from hypercl.nets.hnets import ChunkedHyperNetwork
from hypercl.nets.targets import FunctionalTarget, mlp_template

# 8-20-6 MLP: 306 weights; the output layer's weight starts at 180 and its bias at 300, so
# with chunks of 64 or 80 the heads straddle chunk rows.
TARGET = FunctionalTarget(mlp_template(8, [20], 6, Activation.relu))
HEADS = Heads(3, 2)


def _head_indices() -> list[torch.Tensor]:
    return [TARGET.output_indices(HEADS.slice(k)) for k in range(HEADS.num_heads)]


def test_output_indices_are_the_head_units_weight_rows_and_biases():
    assert _head_indices()[1].tolist() == [*range(180 + 40, 180 + 80), 302, 303]
    flat = torch.arange(TARGET.num_params, dtype=torch.float32)
    params = TARGET.unflatten(flat)
    w, b = params["3.weight"], params["3.bias"]  # the output Linear
    expected = torch.cat([w[2:4].flatten(), b[2:4]])
    assert torch.equal(flat[_head_indices()[1]], expected)


def _reg_and_grads(impl, targets, chunk, hidden, masked):
    torch.manual_seed(0)
    hnet = ChunkedHyperNetwork(TARGET.num_params, 5, 4, chunk, 3, hidden, Activation.relu)
    hnet = hnet.double()
    reg = OutputRegularizer(targets, impl)
    if masked:
        reg.ignore_other_heads(_head_indices())
    reg.snapshot(hnet, num_prev=4)
    ref = hnet(torch.arange(4)).detach()
    with torch.no_grad():
        for p in hnet.theta().values():
            p.add_(0.05 * torch.randn_like(p))
    value = reg(hnet)
    value.backward()
    return hnet, ref, value.detach(), [p.grad.clone() for p in hnet.theta().values()]


@pytest.mark.parametrize("chunk,hidden", [(64, []), (80, [7, 9])])
@pytest.mark.parametrize("targets", [RegTargets.stored, RegTargets.online])
def test_fast_equals_direct_when_other_heads_are_ignored(chunk, hidden, targets):
    _, _, v_fast, g_fast = _reg_and_grads(RegImpl.fast, targets, chunk, hidden, True)
    _, _, v_direct, g_direct = _reg_and_grads(RegImpl.direct, targets, chunk, hidden, True)
    torch.testing.assert_close(v_fast, v_direct, rtol=1e-10, atol=0)
    for a, b in zip(g_fast, g_direct, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_ignored_heads_are_exactly_left_out():
    hnet, ref, value, _ = _reg_and_grads(RegImpl.direct, RegTargets.stored, 64, [], True)
    _, _, full, _ = _reg_and_grads(RegImpl.direct, RegTargets.stored, 64, [], False)
    with torch.no_grad():
        diff = hnet(torch.arange(4)) - ref
    expected = 0.0
    for j in range(4):
        keep = torch.ones(TARGET.num_params, dtype=torch.bool)
        for k, idx in enumerate(_head_indices()):
            if k != j % 3:
                keep[idx] = False
        expected += diff[j][keep].pow(2).sum()
    torch.testing.assert_close(value, expected / 4, rtol=1e-12, atol=0)
    assert value < full
