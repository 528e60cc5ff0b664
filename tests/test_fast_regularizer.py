"""The fast (Gram) regularizer equals the direct reference in value and gradients."""

from __future__ import annotations

import pytest
import torch

from hypercl.config import Activation, RegImpl, RegTargets
from hypercl.methods.lookahead import lookahead_params
from hypercl.methods.regularizer import OutputRegularizer
from hypercl.nets.hnets import ChunkedHyperNetwork, FullHyperNetwork


def make_hnet(kind: str, dtype: torch.dtype):
    torch.manual_seed(0)
    if kind == "full":
        hnet = FullHyperNetwork(300, 6, 5, [7, 9], Activation.elu)
    elif kind == "chunked":  # 300 = 4 chunks of 80 with 20 padding outputs in the last one
        hnet = ChunkedHyperNetwork(300, 6, 5, 80, 3, [7, 9], Activation.relu)
    else:  # no hidden layer: a linear map from [task emb; chunk emb]
        hnet = ChunkedHyperNetwork(300, 6, 5, 64, 4, [], Activation.relu)
    return hnet.to(dtype)


def reg_and_grads(hnet, impl, targets, lookahead, snapshot_state, trained_state):
    hnet.load_state_dict(snapshot_state)
    reg = OutputRegularizer(targets, impl)
    reg.snapshot(hnet, num_prev=5)
    hnet.load_state_dict(trained_state)  # as if some steps on task 5 had been taken
    hnet.zero_grad(set_to_none=True)
    theta = hnet.theta()
    override = None
    if lookahead:
        opt = torch.optim.Adam([*theta.values(), hnet.task_embs[5]], lr=0.05)
        hnet(torch.tensor([5])).pow(2).mean().backward()  # a task loss
        override = lookahead_params(opt, theta)
    for p in hnet.parameters():
        p.grad = None
    value = reg(hnet, override)
    value.backward()
    grads = {n: p.grad.clone() for n, p in theta.items()}
    return value.detach(), grads


@pytest.mark.parametrize("kind", ["full", "chunked", "linear"])
@pytest.mark.parametrize("targets", [RegTargets.stored, RegTargets.online])
@pytest.mark.parametrize("lookahead", [False, True])
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-5), (torch.float32, 1e-3)])
def test_fast_equals_direct_value_and_gradients(kind, targets, lookahead, dtype, rtol):
    hnet = make_hnet(kind, dtype)
    snapshot_state = {k: v.clone() for k, v in hnet.state_dict().items()}
    with torch.no_grad():
        for p in hnet.theta().values():
            p.add_(0.05 * torch.randn_like(p))
    trained_state = {k: v.clone() for k, v in hnet.state_dict().items()}
    direct = reg_and_grads(hnet, RegImpl.direct, targets, lookahead, snapshot_state,
                           trained_state)  # fmt: skip
    fast = reg_and_grads(hnet, RegImpl.fast, targets, lookahead, snapshot_state, trained_state)
    assert direct[0] > 0
    assert abs(fast[0] - direct[0]) <= rtol * abs(direct[0])
    for name, g in direct[1].items():
        err = (fast[1][name] - g).norm() / g.norm()
        assert err <= rtol, f"{name}: relative gradient error {err:.2e}"


@pytest.mark.parametrize("impl", [RegImpl.fast, RegImpl.direct])
def test_exactly_zero_right_after_snapshot(impl):
    hnet = make_hnet("chunked", torch.float32)
    reg = OutputRegularizer(RegTargets.stored, impl)
    reg.snapshot(hnet, num_prev=3)
    assert reg(hnet).item() == 0.0


def test_fast_regularizer_keeps_no_per_task_outputs():
    hnet = make_hnet("chunked", torch.float32)
    reg = OutputRegularizer(RegTargets.stored, RegImpl.fast)
    reg.snapshot(hnet, num_prev=5)
    stored = sum(t.numel() for t in reg.snap.values())
    assert stored == 5 * 4 * 9 + 80 * 9 + 80  # rows Z* and the head, not 5 x 300 outputs
    assert [g.shape for g in reg.grams] == [(9, 9), (9, 9)]


def test_second_call_before_backward_is_rejected_not_wrong():
    # The fast path writes A^T into one buffer per snapshot; autograd's version check must
    # refuse the first value's backward once a second call has overwritten the buffer.
    hnet = make_hnet("chunked", torch.float32)
    reg = OutputRegularizer(RegTargets.stored, RegImpl.fast)
    reg.snapshot(hnet, num_prev=3)
    with torch.no_grad():
        for p in hnet.theta().values():
            p.add_(0.05 * torch.randn_like(p))
    first = reg(hnet)
    second = reg(hnet)
    assert first.item() == second.item() > 0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        first.backward()
    second.backward()  # the latest call's backward works
    assert hnet.head.weight_t.grad.abs().sum() > 0
