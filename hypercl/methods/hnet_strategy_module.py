"""The hypernetwork as an Avalanche ``MultiTaskModule``, and a user's model made functional.

:class:`HNetModule` is the model an :class:`~hypercl.methods.hnet_strategy.HNetStrategy`
trains: ``forward(x, task_labels)`` generates each task's target weights from its
embedding and runs the target with them. Its Avalanche ``adaptation`` (called before
every experience, training and evaluation) checks the experience's class labels against
the head size and adds an embedding for a task label not seen before.
"""

from __future__ import annotations

import copy
import itertools

import torch
from avalanche.models import MultiTaskModule
from torch import nn
from torch.nn.parameter import UninitializedParameter

from hypercl.config import Activation, HNetConfig, HNetKind
from hypercl.methods.learner import HNetLearner
from hypercl.nets.heads import Heads
from hypercl.nets.targets import FunctionalTarget

LABELS_FIX = (
    "number the classes from 0 in each experience, e.g. SplitMNIST(n_experiences=5, "
    "return_task_id=True, class_ids_from_zero_in_each_exp=True)"
)


def functional_copy(model: nn.Module) -> FunctionalTarget:
    """A :class:`FunctionalTarget` of ``model``'s architecture; ``model`` is left as it is.

    The copy's parameters and buffers are shape-only ``meta`` tensors (no memory is
    copied); the user's module keeps its own, on its own device, and stays usable.
    """
    memo: dict[int, torch.Tensor] = {}
    for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
        if isinstance(tensor, UninitializedParameter):
            raise ValueError(
                f"parameter {name!r} of the model is not initialised yet (a lazy module): "
                "run the model on one batch before building the strategy"
            )
        meta = tensor.detach().to("meta")
        if isinstance(tensor, nn.Parameter):
            meta = nn.Parameter(meta, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = meta
    return FunctionalTarget(copy.deepcopy(model, memo))


def hnet_config(options: dict | HNetConfig | None, num_params: int) -> HNetConfig:
    """The hypernetwork's config from a dict of :class:`HNetConfig` fields (kind, hidden,
    activation, task_emb_dim, chunk_size, chunk_emb_dim); the rest keep their defaults,
    except that the default chunk size is capped at the target's ``num_params``."""
    if isinstance(options, HNetConfig):
        return options
    options = dict(options or {})
    known = HNetConfig.__dataclass_fields__
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown hnet option(s) {unknown}; known: {', '.join(known)}")
    options.setdefault("chunk_size", min(HNetConfig.chunk_size, num_params))
    if "kind" in options:
        options["kind"] = HNetKind(options["kind"])
    if "activation" in options:
        options["activation"] = Activation(options["activation"])
    options["hidden"] = list(options.get("hidden", HNetConfig().hidden))
    return HNetConfig(**options)


def check_labels(experience, head_size: int) -> None:
    """Raise if the experience has class labels outside ``0 .. head_size - 1``: its task's
    head has ``head_size`` outputs, so such labels could never be predicted."""
    classes = getattr(experience, "classes_in_this_experience", None)
    if classes is None:
        classes = experience.dataset.targets.uniques
    classes = sorted(int(c) for c in classes)
    bad = [c for c in classes if not 0 <= c < head_size]
    if bad:
        raise ValueError(
            f"experience {experience.current_experience} (task labels "
            f"{list(experience.task_labels)}) has class labels {classes}, but the model has "
            f"{head_size} outputs per task, so labels {bad} would never be learned: "
            f"{LABELS_FIX}"
        )


class HNetModule(MultiTaskModule):
    """forward(x, task_labels) -> logits of each sample's task head [B, head_size].

    Args:
        learner: the hypernetwork, target and regularizer. ``learner.heads`` may be None:
            then the head is the target's whole output, its size found at the first
            experience (running the target on ``meta`` with one of its inputs).
        embedding_generator: draws the ``task_emb_dim`` embedding of each new task label
            (task k: k-th draw, N(0, 1) as in the hypernetwork). None: the hypernetwork's
            tasks are fixed.
    """

    def __init__(
        self,
        learner: HNetLearner,
        embedding_generator: torch.Generator | None = None,
        task_emb_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.learner = learner
        self.hnet = learner.hnet  # registered: model.parameters() are the hnet's
        self.embedding_generator, self.task_emb_dim = embedding_generator, task_emb_dim
        if learner.heads is not None:
            self.max_class_label = learner.heads.head_size

    def train(self, mode: bool = True) -> HNetModule:
        """Also the target's mode (not a submodule: its template lives on ``meta``)."""
        self.learner.target.train(mode)
        return super().train(mode)

    @property
    def head_size(self) -> int | None:
        """Outputs per task (None until the first experience when found from the data)."""
        return None if self.learner.heads is None else self.learner.heads.head_size

    def adaptation(self, experience) -> None:
        """Before each experience: find the head size (once), check the class labels, add
        embeddings for new task labels."""
        if self.learner.heads is None:
            self.learner.heads = Heads(1, self._output_size(experience))
        check_labels(experience, self.head_size)
        self.max_class_label = self.head_size
        for task in experience.task_labels:
            self.add_task(int(task))
        if self.training:
            self.known_train_tasks_labels |= set(experience.task_labels)

    def _output_size(self, experience) -> int:
        """Width of the target's output on one of the experience's inputs (run on meta)."""
        x = experience.dataset[0][0]
        template = self.learner.target.template
        try:
            with torch.no_grad():
                out = template(x.unsqueeze(0).expand(2, *x.shape).to("meta"))
        except Exception as error:  # any failure: reported with its cause
            raise ValueError(
                f"could not run the model on an input of shape {tuple(x.shape)} to find its "
                f"output size: {error}"
            ) from error
        if out.dim() != 2:
            raise ValueError(f"the model's output must be [batch, classes], got {tuple(out.shape)}")
        return out.shape[1]

    def add_task(self, task: int) -> None:
        """Make sure task label ``task`` has an embedding (new ones drawn in order)."""
        embs = self.hnet.task_embs
        if task < len(embs):
            return
        if self.embedding_generator is None:
            raise ValueError(f"task label {task}: the hypernetwork was built for {len(embs)} tasks")
        device = next(self.hnet.parameters()).device
        while len(embs) <= task:
            emb = torch.randn(self.task_emb_dim, generator=self.embedding_generator)
            embs.append(nn.Parameter(emb.to(device)))

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        learner = self.learner
        if learner.heads is None:
            raise RuntimeError("HNetModule: train or evaluate an experience first")
        ids = torch.full((1,), task_label, device=x.device)
        weights = self.hnet(ids)[0]
        out = learner.target(x, weights, learner.bn_stats.get(task_label))
        return out[:, learner.heads.slice(task_label)]
