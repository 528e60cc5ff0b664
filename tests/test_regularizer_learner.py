import pytest
import torch

from hypercl.config import Activation, MethodConfig, RegTargets, TrainConfig
from hypercl.data.tasks import TaskData
from hypercl.methods.learner import HNetLearner
from hypercl.methods.lookahead import adam_lookahead, legacy_adam_lookahead, lookahead_params
from hypercl.methods.regularizer import OutputRegularizer
from hypercl.nets.heads import Heads
from hypercl.nets.hnets import ChunkedHyperNetwork, FullHyperNetwork
from hypercl.nets.targets import build_target


def small_hnet(kind: str, num_params: int = 60, num_tasks: int = 3):
    torch.manual_seed(0)
    if kind == "full":
        return FullHyperNetwork(num_params, num_tasks, 4, [8], Activation.relu)
    return ChunkedHyperNetwork(num_params, num_tasks, 4, 16, 3, [8, 8], Activation.elu)


@pytest.mark.parametrize("kind", ["full", "chunked"])
@pytest.mark.parametrize("targets", [RegTargets.stored, RegTargets.online])
def test_regularizer_zero_after_snapshot_positive_after_update(kind, targets):
    hnet = small_hnet(kind)
    reg = OutputRegularizer(targets)
    reg.snapshot(hnet, num_prev=2)
    before = hnet(torch.arange(2)).detach()
    assert reg(hnet).item() == 0.0
    assert reg(hnet, dict(hnet.theta())).item() == 0.0
    with torch.no_grad():
        hnet.head.weight_t.add_(0.01)
    value = reg(hnet)
    assert value.item() > 0
    # by hand: mean over the two previous tasks of the summed squared output change
    by_hand = (hnet(torch.arange(2)) - before).pow(2).sum().item() / 2
    assert value.item() == pytest.approx(by_hand, rel=1e-4)


def test_regularizer_ignores_current_task_and_subsets_previous_ones():
    hnet = small_hnet("chunked", num_tasks=4)
    reg = OutputRegularizer(RegTargets.stored, subset=1, generator=torch.Generator().manual_seed(0))
    reg.snapshot(hnet, num_prev=3)
    with torch.no_grad():
        hnet.task_embs[3].add_(1.0)  # the current task's embedding is not regularized
    # zero up to rounding: the fast form expands ||dz W||^2 into Gram products whose
    # cancellation leaves ~1e-13 on some CPUs (Intel Xeon, AVX-512), exactly 0 on others
    assert reg(hnet).item() == pytest.approx(0.0, abs=1e-9)
    drawn = {tuple(reg.sample_tasks(torch.device("cpu")).tolist()) for _ in range(50)}
    assert drawn == {(0,), (1,), (2,)}


def test_no_previous_tasks_gives_zero():
    hnet = small_hnet("full")
    reg = OutputRegularizer()
    reg.snapshot(hnet, num_prev=0)
    assert reg(hnet).item() == 0.0


@pytest.mark.parametrize(
    "settings",
    [{"fused": True}, {"fused": False}, {"foreach": True}, {"weight_decay": 0.1, "amsgrad": True}],
)
def test_lookahead_is_exactly_adams_real_next_step(settings):
    hnet = small_hnet("chunked")
    params = list(hnet.theta().values())
    opt = torch.optim.Adam([*params, hnet.task_embs[0]], lr=1e-2, betas=(0.8, 0.95), **settings)
    for step in range(3):  # first step (empty state) and later ones
        opt.zero_grad()
        hnet(torch.tensor([0])).pow(2).sum().backward()
        state_before = {k: v.clone() for k, v in opt.state.get(params[0], {}).items()}
        ahead = adam_lookahead(opt, params)
        for key, value in opt.state.get(params[0], {}).items():  # state untouched
            assert torch.equal(value, state_before[key]), key
        before = [p.detach().clone() for p in params]
        opt.step()
        for p, b, a in zip(params, before, ahead, strict=True):
            assert torch.equal(p.detach(), a), f"step {step}: lookahead differs from the step"
            assert not torch.equal(a, b), f"step {step} moved nothing"


def test_lookahead_params_pass_gradients_to_theta():
    hnet = small_hnet("chunked")
    theta = hnet.theta()
    opt = torch.optim.Adam(list(theta.values()), lr=1e-2)
    hnet(torch.tensor([0])).pow(2).sum().backward()
    ahead = lookahead_params(opt, theta)
    weights = {n: torch.randn_like(p) for n, p in theta.items()}
    for p in theta.values():
        p.grad = None
    sum((ahead[n] * weights[n]).sum() for n in theta).backward()
    for n, p in theta.items():
        assert torch.equal(p.grad, weights[n]), n
        assert not torch.equal(ahead[n].detach(), p.detach()), n


def official_lookahead(opt: torch.optim.Adam, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The official code's Adam lookahead (chrhenning/hypercl, utils/optim_step.py:adam_step,
    plain Adam), written out in float64 with an integer step count."""
    group = opt.param_groups[0]
    (beta1, beta2), eps, lr = group["betas"], group["eps"], group["lr"]
    ahead = []
    for p in params:
        state = opt.state.get(p)
        step = int(state["step"]) + 1 if state else 1
        g = p.grad.double()
        m = beta1 * state["exp_avg"].double() if state else torch.zeros_like(g)
        v = beta2 * state["exp_avg_sq"].double() if state else torch.zeros_like(g)
        m, v = m + (1 - beta1) * g, v + (1 - beta2) * g * g
        size = lr * (1 - beta2**step) ** 0.5 / (1 - beta1**step)
        ahead.append((p.detach().double() - size * m / (v.sqrt() + eps)).float())
    return ahead


@pytest.mark.parametrize("fused", [False, True])
def test_legacy_lookahead_is_the_official_formula_and_differs_only_through_eps(fused):
    hnet = small_hnet("chunked")
    params = list(hnet.theta().values())
    # eps of the size of sqrt(v): where the two formulas part (at eps=1e-8 they agree to ~1e-3)
    opt = torch.optim.Adam(params, lr=1e-2, eps=1e-3, fused=fused)  # betas (0.9, 0.999)
    for step in range(3):  # first step (empty state) and later ones
        opt.zero_grad()
        hnet(torch.tensor([0])).pow(2).sum().mul(1e-3).backward()
        legacy, official = legacy_adam_lookahead(opt, params), official_lookahead(opt, params)
        today = adam_lookahead(opt, params)
        for p, a, o, t in zip(params, legacy, official, today, strict=True):
            torch.testing.assert_close(a, o, rtol=1e-6, atol=1e-9, msg=f"step {step}")
            assert (a - p).norm() < 0.9 * (t - p).norm(), f"step {step}: eps did not enter"
        opt.param_groups[0]["eps"] = 0.0  # without eps the two formulas are one
        pairs = zip(legacy_adam_lookahead(opt, params), adam_lookahead(opt, params), strict=True)
        for a, t in pairs:
            torch.testing.assert_close(a, t, rtol=1e-5, atol=1e-7, msg=f"step {step}, eps 0")
        opt.param_groups[0]["eps"] = 1e-3
        opt.step()


def test_legacy_lookahead_refuses_what_the_official_step_lacks():
    hnet = small_hnet("chunked")
    params = list(hnet.theta().values())
    opt = torch.optim.Adam(params, lr=1e-2, weight_decay=0.1)
    hnet(torch.tensor([0])).pow(2).sum().backward()
    with pytest.raises(ValueError, match="supports plain Adam only: set weight_decay=0"):
        legacy_adam_lookahead(opt, params)


def random_task(n: int = 64, seed: int = 0) -> TaskData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] > 0).long()
    return TaskData(x, y, x, y)


def make_learner(beta: float = 0.05, lookahead: bool = True, iters: int = 20) -> HNetLearner:
    torch.manual_seed(0)
    target = build_target("mlp", 6, 3 * 2, [5], Activation.relu)
    hnet = ChunkedHyperNetwork(target.num_params, 3, 4, 20, 3, [8])
    return HNetLearner(
        hnet,
        target,
        Heads(3, 2),
        MethodConfig(beta=beta, lookahead=lookahead),
        TrainConfig(iters_per_task=iters, batch_size=16, lr=1e-2),
        torch.Generator().manual_seed(0),
    )


def test_frozen_embeddings_do_not_change_while_later_task_trains():
    learner = make_learner()
    learner.train_task(0, random_task(seed=0))
    learner.train_task(1, random_task(seed=1))
    first = learner.hnet.task_embs[0].detach().clone()
    second = learner.hnet.task_embs[1].detach().clone()
    third = learner.hnet.task_embs[2].detach().clone()
    learner.train_task(2, random_task(seed=2))
    assert torch.equal(learner.hnet.task_embs[0], first)
    assert torch.equal(learner.hnet.task_embs[1], second)
    assert not torch.equal(learner.hnet.task_embs[2], third)  # the current one trains


def test_regularizer_keeps_previous_weights_closer_than_no_regularizer():
    drift = {}
    for beta in (0.0, 1.0):
        learner = make_learner(beta=beta, iters=40)
        learner.train_task(0, random_task(seed=0))
        before = learner.hnet(torch.tensor([0])).detach()
        learner.train_task(1, random_task(seed=3))
        drift[beta] = (learner.hnet(torch.tensor([0])).detach() - before).pow(2).sum().item()
    assert drift[1.0] < 0.5 * drift[0.0]


def test_head_layout():
    heads = Heads(5, 2)
    assert heads.out_features == 10 and heads.slice(3) == slice(6, 8)
    shared = Heads(1, 2)
    assert shared.slice(3) == slice(0, 2)
