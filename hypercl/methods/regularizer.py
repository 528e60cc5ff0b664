"""The output regularizer of von Oswald et al. (2020) and its lookahead.

While task ``t`` trains, the hypernetwork's outputs for every earlier task ``j`` are pulled
towards what it produced before task ``t`` started::

    reg = 1/|S| * sum_{j in S} || H(e_j, theta + dtheta) - H*(e_j) ||^2

``H*`` comes from a snapshot taken before task ``t``: ``stored`` keeps what is needed to
reproduce it, ``online`` keeps a frozen copy of theta and recomputes it every step. ``dtheta``
is the lookahead: the step the optimizer would take on the task loss alone (detached).

Two exact implementations (``impl``):

* ``direct`` regenerates all weights of every task in S: cost O(|S| R C h) and memory
  O(|S| num_params) -- the reference.
* ``fast`` uses that the hypernetwork's head is linear: for each row (chunk) of task j,
  ``H = z W^T + b`` and ``H* = z* W*^T + b*``, so with ``dz = z - z*``, ``dW = W - W*``,
  ``db = b - b*`` and ``A = [dW, db]`` [C, h+1]::

      H - H* = dz W*^T + z dW^T + db
      ||H - H*||^2 = dz K dz^T + 2 dz (W*^T A) [z, 1]^T + [z, 1] (A^T A) [z, 1]^T

  with ``K = W*^T W*`` computed once at the snapshot. Every matrix is at most
  (h+1) x (h+1): cost O(C h^2 + |S| R h^2), the |S| term small next to the C one (a
  ``perm_mnist10_cl1`` step took 1.22x as long with 9 previous tasks as with 1 at 1 thread,
  0.99x at 2 threads; ``direct``: 7.7x; ``results/bench.md``). Every term pairs
  two small differences (dz with dz, dz with dW, dW with dW), so nothing cancels
  catastrophically. The padding of the last chunk is subtracted by the same form over the
  padding columns. With the lookahead, W, b and z are their looked-ahead values. All
  [C, .] matrices are handled transposed, [., C] (as the head stores W^T, see
  :class:`hypercl.nets.hnets.HeadLinear`), so the GEMMs over the long C axis run fast.

With :meth:`OutputRegularizer.ignore_other_heads` the weights of the output heads that a
task does not use are left out of its distance (with one head per task, task j's
embedding is only ever run with head j). ``direct`` masks them; ``fast`` subtracts the same
quadratic form over each other head's columns, row by row of the chunk it lies in.
"""

from __future__ import annotations

import torch
from torch.func import functional_call

from hypercl.config import RegImpl, RegTargets
from hypercl.nets.hnets import HyperNetwork


class _HeadGrams(torch.autograd.Function):
    """A^T = [W^T - W*^T; b - b*] [h+1, C], and its Grams (W*^T A, A^T A) over all C columns
    and over the columns from ``split`` on.

    ``stack`` [2h+1, C] is a buffer whose first h rows hold W*^T: A^T is written below them,
    so one GEMM per column range, ``stack @ A``, gives both Grams, and the backward's one GEMM
    per range, ``coef @ stack``, gives both gradient terms. Each column is read once: the
    GEMMs run over [:split] and [split:] apart and the full Grams are the sum of the two (the
    tail is most of C with a chunked hypernetwork, e.g. 74 % in perm_mnist10). Writing A^T
    into the buffer replaces a difference and a concatenation per step; the buffer is
    overwritten by the next call, so autograd's version check rejects a second call before
    the first one's backward.
    """

    @staticmethod
    def forward(ctx, w_t, bias, b_ref, stack, split: int):
        h = w_t.shape[0]
        a_t = stack[h:]
        torch.sub(w_t, stack[:h], out=a_t[:h])
        torch.sub(bias, b_ref, out=a_t[h])
        tail = a_t[:, split:] @ stack[:, split:].T  # [h+1, 2h+1]: [A^T W*, A^T A] over the tail
        full = torch.addmm(tail, a_t[:, :split], stack[:, :split].T)
        ctx.save_for_backward(stack)
        ctx.split = split
        return full[:, :h].T, full[:, h:], tail[:, :h].T, tail[:, h:]

    @staticmethod
    def backward(ctx, g_cross, g_gram, g_cross_tail, g_gram_tail):
        (stack,) = ctx.saved_tensors
        split, h = ctx.split, g_cross.shape[0]
        # d/dA^T of <g_cross, W*^T A> + <g_gram, A^T A> = [g_cross^T, g_gram + g_gram^T] @ stack
        coef = torch.cat([g_cross.T, g_gram + g_gram.T], dim=1)  # [h+1, 2h+1]
        coef_tail = coef + torch.cat([g_cross_tail.T, g_gram_tail + g_gram_tail.T], dim=1)
        grad = stack.new_empty(h + 1, stack.shape[1])
        torch.mm(coef, stack[:, :split], out=grad[:, :split])
        torch.mm(coef_tail, stack[:, split:], out=grad[:, split:])
        return grad[:h], grad[h], None, None, None


def _quadratic_form(u_dz: torch.Tensor, u_z: torch.Tensor, grams) -> torch.Tensor:
    """Sum over rows of ``||dz W*^T + [z, 1] A^T||^2`` from the Gram blocks.

    u_dz: [N, h]; u_z = [z, 1]: [N, h+1]; grams = (W*^T W*, W*^T A, A^T A).
    """
    gram_ref, cross, gram_a = grams
    return (
        ((u_dz @ gram_ref) * u_dz).sum()
        + 2 * ((u_dz @ cross) * u_z).sum()
        + ((u_z @ gram_a) * u_z).sum()
    )


def gram_squared_distance(
    dz: torch.Tensor,
    z: torch.Tensor,
    w_t: torch.Tensor,
    bias: torch.Tensor,
    b_ref: torch.Tensor,
    stack: torch.Tensor,
    last_width: int,
    gram_ref: torch.Tensor,
    gram_ref_tail: torch.Tensor,
) -> torch.Tensor:
    """Sum over rows of ``||H - H*||^2`` with ``H - H* = dz W*^T + z dW^T + db``.

    With ``A = [dW, db]`` [C, h+1] and ``u_z = [z, 1]`` this is
    ``dz K dz^T + 2 dz (W*^T A) u_z^T + u_z (A^T A) u_z^T`` with ``K = W*^T W*``.

    Args:
        dz: rows minus their snapshot, z: current rows [S, R, h].
        w_t, bias: current head W^T [h, C] and b [C]; b_ref: the snapshot's b* [C].
        stack: buffer [2h+1, C] whose first h rows are the snapshot's W*^T (the rest is
            scratch space for A^T, see :class:`_HeadGrams`).
        last_width: outputs of each task's last row that are real weights; the padding
            beyond it is subtracted again (its terms are small differences too).
        gram_ref, gram_ref_tail: W*^T W* over all C columns and over the padding columns.

    Returns:
        A scalar.
    """
    h = dz.shape[-1]
    cross, gram_a, cross_tail, gram_a_tail = _HeadGrams.apply(w_t, bias, b_ref, stack, last_width)
    u_z = torch.cat([z, z.new_ones(*z.shape[:2], 1)], dim=2)  # [S, R, h+1]
    total = _quadratic_form(dz.reshape(-1, h), u_z.reshape(-1, h + 1), (gram_ref, cross, gram_a))
    if last_width < w_t.shape[1]:
        total = total - _quadratic_form(
            dz[:, -1], u_z[:, -1], (gram_ref_tail, cross_tail, gram_a_tail)
        )
    return total


class OutputRegularizer:
    """Keeps H(e_j) for previous tasks j close to their snapshot.

    Args:
        targets: ``stored`` keeps the snapshot's outputs (direct) or rows and head (fast);
            ``online`` keeps a frozen theta and recomputes.
        impl: ``fast`` (Gram matrices) or ``direct`` (the reference); both are exact.
        subset: if set, each call regularizes a random subset of this many previous tasks.
        generator: CPU generator for the subset draw (part of the run's RNG state).
    """

    def __init__(
        self,
        targets: RegTargets = RegTargets.stored,
        impl: RegImpl = RegImpl.fast,
        subset: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.targets, self.impl = targets, impl
        self.subset = subset
        self.generator = generator
        self.num_prev = 0
        self.snap: dict[str, torch.Tensor] = {}
        self.grams: tuple[torch.Tensor, torch.Tensor] | None = None  # fast: W*^T W*, tail
        self.stack: torch.Tensor | None = None  # fast: [W*^T; scratch for A^T], _HeadGrams
        self.head_indices: list[torch.Tensor] | None = None  # flat weight indices per head
        # fast: (head, row, first column, end column, W*[cols]^T W*[cols]) per piece of a head
        self.head_segments: list[tuple[int, int, int, int, torch.Tensor]] = []

    def ignore_other_heads(self, head_indices: list[torch.Tensor]) -> None:
        """Leave the weights of other tasks' heads out: head k's flat indices are
        ``head_indices[k]`` and task j uses head ``j % len(head_indices)``."""
        self.head_indices = [idx.sort().values for idx in head_indices]
        self.head_of_weight: torch.Tensor | None = None  # direct: [num_params], -1 = no head

    def _segments(self, w_ref_t: torch.Tensor) -> list[tuple[int, int, int, int, torch.Tensor]]:
        """Cut every head's indices into runs of consecutive columns within one row."""
        chunk = w_ref_t.shape[1]
        segments = []
        for head, idx in enumerate(self.head_indices or []):
            rows, cols = (idx // chunk).tolist(), (idx % chunk).tolist()
            start = 0
            for i in range(1, len(cols) + 1):
                if i == len(cols) or rows[i] != rows[start] or cols[i] != cols[i - 1] + 1:
                    c0, c1 = cols[start], cols[i - 1] + 1
                    w_t = w_ref_t[:, c0:c1]
                    segments.append((head, rows[start], c0, c1, w_t @ w_t.T))
                    start = i
        return segments

    def _keep_mask(self, ids: torch.Tensor, num_params: int) -> torch.Tensor:
        """[S, num_params] bool: True where task ids[s] is regularized, False on the heads
        of other tasks. No host sync (indices stay on the device)."""
        if self.head_of_weight is None or self.head_of_weight.device != ids.device:
            head_of = torch.full((num_params,), -1, dtype=torch.long)
            for head, idx in enumerate(self.head_indices):
                head_of[idx] = head
            self.head_of_weight = head_of.to(ids.device)
        own = (ids % len(self.head_indices))[:, None]
        return (self.head_of_weight == -1) | (self.head_of_weight == own)

    @torch.no_grad()
    def snapshot(self, hnet: HyperNetwork, num_prev: int) -> None:
        """Record H*(e_j) for tasks 0..num_prev-1; call before training task ``num_prev``."""
        self.num_prev = num_prev
        self.snap, self.grams, self.stack = {}, None, None
        if num_prev == 0:
            return
        ids = torch.arange(num_prev, device=hnet.head.weight_t.device)
        if self.targets == RegTargets.online:
            self.snap = {n: p.detach().clone() for n, p in hnet.theta().items()}
        elif self.impl == RegImpl.direct:
            self.snap = {"outputs": hnet(ids).clone()}
        else:
            self.snap = {
                "rows": hnet(ids, rows_only=True).clone(),
                "head.weight_t": hnet.head.weight_t.detach().clone(),
                "head.bias": hnet.head.bias.detach().clone(),
            }
        self._derive(hnet)

    def _derive(self, hnet: HyperNetwork) -> None:
        """fast: W*^T W* over all columns and over the padding, and the heads' pieces."""
        if self.impl == RegImpl.fast and self.num_prev > 0:
            w_ref_t = self.snap["head.weight_t"]
            tail = w_ref_t[:, hnet.last_row_width :]
            self.grams = (w_ref_t @ w_ref_t.T, tail @ tail.T)
            self.head_segments = self._segments(w_ref_t)
            h, chunk = w_ref_t.shape
            self.stack = w_ref_t.new_empty(2 * h + 1, chunk)
            self.stack[:h] = w_ref_t

    def memory_bytes(self) -> int:
        """Bytes held for the previous tasks: the snapshot (what a checkpoint keeps: stored
        outputs or rows and head, or the frozen theta with ``online``) and, ``fast``, the
        Gram matrices, the scratch stack and the heads' pieces derived from it."""
        if self.num_prev == 0:
            return 0
        tensors = [*self.snap.values(), *(self.grams or ())]
        tensors += [] if self.stack is None else [self.stack]
        tensors += [piece[4] for piece in self.head_segments]
        return sum(t.numel() * t.element_size() for t in tensors)

    def state_dict(self) -> dict:
        """What a checkpoint keeps: the number of previous tasks and the snapshot."""
        return {"num_prev": self.num_prev, "snap": self.snap}

    def load_state_dict(self, state: dict, hnet: HyperNetwork) -> None:
        """Restore a :meth:`state_dict`; the Gram matrices are recomputed from it."""
        self.num_prev, self.snap = state["num_prev"], state["snap"]
        self.grams, self.stack = None, None
        self._derive(hnet)

    @torch.no_grad()
    def reference(self, hnet: HyperNetwork, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """The snapshot for tasks ids [S]: ``outputs`` [S, P] (direct), or ``rows``
        [S, R, h] with ``head.weight_t`` [h, C] and ``head.bias`` [C] (fast)."""
        if self.targets == RegTargets.online:
            if self.impl == RegImpl.direct:
                return {"outputs": functional_call(hnet, self.snap, (ids,))}
            rows = functional_call(hnet, self.snap, (ids,), {"rows_only": True})
            return {"rows": rows, "head.weight_t": self.snap["head.weight_t"],
                    "head.bias": self.snap["head.bias"]}  # fmt: skip
        if self.impl == RegImpl.direct:
            return {"outputs": self.snap["outputs"][ids]}
        return {**self.snap, "rows": self.snap["rows"][ids]}

    def sample_tasks(self, device: torch.device) -> torch.Tensor:
        """The previous tasks S to regularize in this step: [|S|] long."""
        if self.subset is None or self.subset >= self.num_prev:
            return torch.arange(self.num_prev, device=device)
        perm = torch.randperm(self.num_prev, generator=self.generator)
        return perm[: self.subset].to(device)

    def __call__(
        self, hnet: HyperNetwork, theta: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The regularizer (a scalar, not yet multiplied by beta) at ``theta``.

        Args:
            theta: replacement shared parameters (e.g. theta + dtheta); None: the current.
        """
        device = hnet.head.weight_t.device
        if self.num_prev == 0:
            return torch.zeros((), device=device)
        ids = self.sample_tasks(device)
        ref = self.reference(hnet, ids)
        params = dict(hnet.theta()) if theta is None else theta
        if self.impl == RegImpl.direct:
            outputs = functional_call(hnet, params, (ids,))
            diff = outputs - ref["outputs"]
            if self.head_indices is not None:
                diff = diff * self._keep_mask(ids, diff.shape[1])
            return diff.pow(2).sum() / ids.numel()
        rows = functional_call(hnet, params, (ids,), {"rows_only": True})
        dz = rows - ref["rows"]
        w_t, bias, b_ref = params["head.weight_t"], params["head.bias"], ref["head.bias"]
        total = gram_squared_distance(
            dz, rows, w_t, bias, b_ref, self.stack, hnet.last_row_width, *self.grams
        )
        if self.head_segments:
            w_ref_t = ref["head.weight_t"]
            total = total - self._other_heads_distance(ids, dz, rows, w_t, w_ref_t, bias, b_ref)
        return total / ids.numel()

    def _other_heads_distance(self, ids, dz, z, w_t, w_ref_t, bias, b_ref) -> torch.Tensor:
        """Sum over tasks in ids [S] and over the heads they do not use of ``||H - H*||^2``
        on those heads' columns (dz, z: [S, R, h]; w_t, w_ref_t: [h, C]; bias, b_ref: [C])."""
        num_heads = len(self.head_indices)
        total = dz.new_zeros(())
        for head, row, c0, c1, gram_ref in self.head_segments:
            # Rows of tasks that use this head get weight 0: every term of the quadratic
            # form is bilinear in (u_dz, u_z), so scaling both by 0/1 scales it by 0/1
            # (a mask instead of a selection: no host sync).
            other = ((ids % num_heads) != head).to(dz.dtype)[:, None]  # [S, 1]
            u_dz, z_r = dz[:, row] * other, z[:, row]  # [S, h]
            u_z = torch.cat([z_r, z_r.new_ones(len(z_r), 1)], dim=1) * other
            dw_t, db = w_t[:, c0:c1] - w_ref_t[:, c0:c1], bias[c0:c1] - b_ref[c0:c1]
            a_t = torch.cat([dw_t, db[None]], dim=0)  # [h+1, c1 - c0]
            grams = (gram_ref, w_ref_t[:, c0:c1] @ a_t.T, a_t @ a_t.T)
            total = total + _quadratic_form(u_dz, u_z, grams)
        return total
