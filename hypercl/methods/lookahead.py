"""The lookahead: the parameters after Adam's next step on the task loss alone, so the
regularizer is evaluated where the step is about to go (detached from that step)."""

from __future__ import annotations

import torch
from torch.optim.adam import adam as adam_step  # torch's functional Adam step


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
    optimizer: torch.optim.Adam, theta: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """theta + dtheta by name, dtheta being Adam's next step on the current grads
    (:func:`adam_lookahead`); gradients taken at these values flow to theta."""
    ahead = adam_lookahead(optimizer, list(theta.values()))
    return {n: _Shifted.apply(p, a) for (n, p), a in zip(theta.items(), ahead, strict=True)}
