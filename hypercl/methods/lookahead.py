"""The lookahead: the parameters after Adam's next step on the task loss alone, so the
regularizer is evaluated where the step is about to go (detached from that step)."""

from __future__ import annotations

import math

import torch
from torch.optim.adam import adam as adam_step  # torch's functional Adam step

from hypercl.config import LookaheadAdam


def _state_copies(
    optimizer: torch.optim.Adam, params: list[torch.Tensor], key: str
) -> list[torch.Tensor]:
    """A copy of ``optimizer.state[p][key]`` per parameter; zeros (a scalar for ``step``)
    for a parameter that has not taken a step yet."""
    copies = []
    for p in params:
        state = optimizer.state.get(p)
        if state:
            copies.append(state[key].clone())
        else:
            copies.append(
                torch.zeros((), device=p.device) if key == "step" else torch.zeros_like(p)
            )
    return copies


@torch.no_grad()
def adam_lookahead(optimizer: torch.optim.Adam, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The values ``optimizer.step()`` would give ``params`` with their current grads,
    theta + dtheta [same shapes], detached; the optimizer's state is left unchanged.

    Runs torch's own Adam (``torch.optim.adam.adam``, the same kernel and settings as the
    group's: fused, foreach, capturable, weight decay, ...) on copies of the parameters and
    moments: one fused pass instead of a re-implementation's many, and exactly what
    ``optimizer.step()`` would compute from the current grads. :meth:`HNetLearner.train_step`
    calls it after the task loss's backward only, so the lookahead is Adam's step on the task
    loss's gradient (as in the paper); with ``beta > 0`` the step then taken also includes
    the regularizer's gradient and differs from it. The step count stays a tensor, so
    nothing waits for the device. A parameter without a gradient is returned as it is.
    """
    ahead = {id(p): p.detach() for p in params}
    for group in optimizer.param_groups:
        todo = [p for p in group["params"] if id(p) in ahead and p.grad is not None]
        if not todo:
            continue
        new_params = [p.detach().clone() for p in todo]
        beta1, beta2 = group["betas"]
        extra = {k: group[k] for k in ("decoupled_weight_decay",) if k in group}  # newer torch only
        adam_step(
            new_params, [p.grad for p in todo],
            _state_copies(optimizer, todo, "exp_avg"), _state_copies(optimizer, todo, "exp_avg_sq"),
            _state_copies(optimizer, todo, "max_exp_avg_sq") if group["amsgrad"] else [],
            _state_copies(optimizer, todo, "step"),
            foreach=group["foreach"], capturable=group["capturable"], differentiable=False,
            fused=group["fused"], amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2,
            lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
            maximize=group["maximize"], **extra,
        )  # fmt: skip
        ahead.update((id(p), q) for p, q in zip(todo, new_params, strict=True))
    return [ahead[id(p)] for p in params]


@torch.no_grad()
def legacy_adam_lookahead(
    optimizer: torch.optim.Adam, params: list[torch.Tensor]
) -> list[torch.Tensor]:
    """theta + dtheta [same shapes, detached] with dtheta as the official code computes it
    (``utils/optim_step.py:adam_step``, torch's Adam before 1.3, pytorch/pytorch#22628):
    ``-lr * sqrt(bc2) / bc1 * m / (sqrt(v) + eps)``, where today's torch divides by
    ``sqrt(v) / sqrt(bc2) + eps``. For plain Adam only (no weight decay, amsgrad or
    maximize: the official code applies no weight decay either). A parameter without a
    gradient is returned as it is; the optimizer's state is left unchanged."""
    ahead = {id(p): p.detach() for p in params}
    for group in optimizer.param_groups:
        if group["weight_decay"] or group["amsgrad"] or group["maximize"]:
            raise ValueError(
                "the legacy lookahead (method.lookahead_adam=legacy) supports plain Adam "
                "only: set weight_decay=0, amsgrad=False, maximize=False"
            )
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            if id(p) not in ahead or p.grad is None:
                continue
            state = optimizer.state.get(p)
            # the bias corrections in Python floats, as the official code (and torch's own
            # non-capturable Adam): in float32, 1 - 0.999**step loses 1e-4 of its value
            step = int(state["step"]) + 1 if state else 1  # waits for the device
            m = state["exp_avg"] * beta1 if state else torch.zeros_like(p)
            v = state["exp_avg_sq"] * beta2 if state else torch.zeros_like(p)
            m.add_(p.grad, alpha=1 - beta1)
            v.addcmul_(p.grad, p.grad, value=1 - beta2)
            size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
            ahead[id(p)] = p.detach() - size * m / (v.sqrt() + group["eps"])
    return [ahead[id(p)] for p in params]


class _Shifted(torch.autograd.Function):
    """``param`` moved to the detached values ``ahead``: the gradient passes to ``param``
    unchanged (d(theta + dtheta)/d theta = 1 when dtheta is a constant)."""

    @staticmethod
    def forward(ctx, param: torch.Tensor, ahead: torch.Tensor) -> torch.Tensor:
        return ahead

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


def lookahead_params(
    optimizer: torch.optim.Adam,
    theta: dict[str, torch.Tensor],
    formula: LookaheadAdam = LookaheadAdam.torch,
) -> dict[str, torch.Tensor]:
    """theta + dtheta by name, dtheta being Adam's next step on the current grads
    (:func:`adam_lookahead`, or :func:`legacy_adam_lookahead` for ``formula`` legacy);
    gradients taken at these values flow to theta."""
    step = legacy_adam_lookahead if formula == LookaheadAdam.legacy else adam_lookahead
    ahead = step(optimizer, list(theta.values()))
    return {n: _Shifted.apply(p, a) for (n, p), a in zip(theta.items(), ahead, strict=True)}
