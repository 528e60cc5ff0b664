"""Structured configs (the schema behind ``conf/``) and value checks.

Hydra merges ``conf/*.yaml`` into :class:`Config`, so a typo in a key or a value of the
wrong type fails before anything runs. :func:`validate` then checks what types cannot
express (positive sizes, ``lr > 0``, ...) and raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from hydra.core.config_store import ConfigStore

from hypercl.errors import ConfigError


class Scenario(str, Enum):
    cl1 = "cl1"  # task-incremental: task id given at test time
    cl2 = "cl2"  # domain-incremental: one shared head, task inferred
    cl3 = "cl3"  # class-incremental: one head per task, task inferred


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class BenchmarkName(str, Enum):
    split_mnist = "split_mnist"
    perm_mnist = "perm_mnist"
    split_cifar10_100 = "split_cifar10_100"  # task 1: CIFAR-10; then CIFAR-100 in 10s
    split_cifar10 = "split_cifar10"  # 5 tasks x 2 classes
    split_cifar100 = "split_cifar100"  # 10 tasks x 10 classes


class Normalize(str, Enum):
    """How CIFAR batches are normalised after scaling to [0, 1]. The official code uses
    ImageNet's channel statistics when it augments (the ResNet-32 runs) and none otherwise
    (the ZenkeNet runs: chrhenning/hypercl data/cifar10_data.py)."""

    dataset = "dataset"  # the data set's channel statistics (split_cifar10_100: CIFAR-10's)
    imagenet = "imagenet"
    none = "none"


class TargetName(str, Enum):
    mlp = "mlp"
    resnet32 = "resnet32"  # CIFAR ResNet-32 with batch norm (needs 3x32x32 images)
    zenkenet = "zenkenet"  # 4 conv + FC 512 (Zenke et al. 2017; needs 3x32x32 images)


class HNetKind(str, Enum):
    chunked = "chunked"
    full = "full"


class Activation(str, Enum):
    relu = "relu"
    elu = "elu"
    tanh = "tanh"
    leaky_relu = "leaky_relu"


class MethodName(str, Enum):
    hnet = "hnet"
    from_scratch = "from_scratch"  # no hypernetwork: fresh target weights per task
    # Baselines on the plain target network (hypercl.methods.baselines, avalanche-lib):
    finetune = "finetune"  # plain sequential training (Avalanche Naive)
    ewc = "ewc"  # elastic weight consolidation, one penalty per task (Avalanche EWC)
    online_ewc = "online_ewc"  # one running Fisher (Avalanche EWC, mode="online")
    si = "si"  # synaptic intelligence (Avalanche SynapticIntelligence)
    lwf = "lwf"  # learning without forgetting (Avalanche LwF)
    replay = "replay"  # experience replay, fixed buffer (Avalanche Replay)
    joint = "joint"  # all tasks at once, the upper bound (Avalanche JointTraining)
    separate = "separate"  # an independent target network per task
    lora = "lora"  # target trained on task 1, frozen; a low-rank adapter per later task
    # Generative replay (hypercl.methods.replay_classifier, docs/replay.md):
    hnet_replay = "hnet_replay"  # HNET+R: plain MLP + replay from a VAE whose decoder an hnet makes
    dgr = "dgr"  # DGR+distill: the same, the decoder plain and protected by its own replay


HNET_METHODS = (MethodName.hnet, MethodName.from_scratch)  # run by hypercl.methods.learner
REPLAY_METHODS = (MethodName.hnet_replay, MethodName.dgr)  # hypercl.methods.replay_classifier


class TaskInference(str, Enum):
    """How ``method=hnet`` finds the task in CL2/CL3 (CL1: given, both are plain HNET)."""

    ent = "ent"  # HNET+ENT: lowest predictive entropy over the learned embeddings
    tir = "tir"  # HNET+TIR: a task-inference MLP trained with generative replay


class LookaheadAdam(str, Enum):
    """Which Adam formula the lookahead's step dtheta follows (``method.lookahead_adam``)."""

    torch = "torch"  # the optimizer's own step: lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
    # The official code's (utils/optim_step.py: torch's Adam before 1.3, pytorch#22628):
    # lr * sqrt(bc2) / bc1 * m / (sqrt(v) + eps). Only where eps enters differs.
    legacy = "legacy"


class RegTargets(str, Enum):
    stored = "stored"  # keep H*(e_j) for every previous task (memory grows with tasks)
    online = "online"  # keep a frozen copy of the hypernetwork and recompute H*(e_j)


class RegImpl(str, Enum):
    fast = "fast"  # exact, through Gram matrices of the linear head: cost flat in #tasks
    direct = "direct"  # the reference: regenerate every previous task's weights


class EvalEvery(str, Enum):
    """Which entries of the accuracy matrix are measured after each task."""

    all = "all"  # every learned task after every task: the full lower triangle
    diagonal = "diagonal"  # after task t only task t; the full last row at the end
    none = "none"  # the last row only


class LoggerKind(str, Enum):
    none = "none"
    wandb = "wandb"


class WandbMode(str, Enum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


@dataclass
class BenchmarkConfig:
    name: BenchmarkName = BenchmarkName.split_mnist
    num_tasks: int = 5
    data_seed: int = 42  # seed of the data stream (e.g. pixel permutations), not of training
    padding: int = 2  # perm_mnist: zero pixels added on each side (28x28 -> 32x32)
    permute_first_task: bool = False  # perm_mnist: true permutes task 1 too (Avalanche's way)
    augment: bool = False  # CIFAR: random crop (padding 4) + horizontal flip of train batches
    normalize: Normalize = Normalize.dataset  # CIFAR: channel statistics after scaling to [0, 1]
    train_subset: int | None = None  # CIFAR: random training images kept per task; null = all
    test_subset: int | None = None  # CIFAR: random test images kept per task; null = all


@dataclass
class TargetConfig:
    name: TargetName = TargetName.mlp
    hidden: list[int] = field(default_factory=lambda: [400, 400])
    activation: Activation = Activation.relu
    per_task_bn: bool = True  # batch norm: running statistics per task (false: one shared set)


@dataclass
class HNetConfig:
    kind: HNetKind = HNetKind.chunked
    hidden: list[int] = field(default_factory=lambda: [10, 10])
    activation: Activation = Activation.relu
    task_emb_dim: int = 96
    chunk_size: int = 42000  # chunked only
    chunk_emb_dim: int = 96  # chunked only


@dataclass
class MethodConfig:
    name: MethodName = MethodName.hnet
    beta: float = 0.01  # strength of the output regularizer
    lookahead: bool = True  # regularize at phi + (the optimizer's step on the task loss)
    lookahead_adam: LookaheadAdam = LookaheadAdam.torch  # the formula of that step
    reg_subset: int | None = None  # previous tasks sampled per step; null = all of them
    reg_targets: RegTargets = RegTargets.stored
    reg_impl: RegImpl = RegImpl.fast
    # With one head per task: leave the weights of the heads task j does not use out of
    # its regularizer term (the paper's CIFAR setting). False regularizes every output.
    ignore_other_heads: bool = False
    # Baseline hyperparameters (used by the method named; see conf/method/<name>.yaml).
    # null: the value van de Ven & Tolias (2019) published for the benchmark and scenario
    # (table in hypercl.methods.baselines.VAN_DE_VEN).
    ewc_lambda: float | None = None  # in their convention: loss + lambda/2 sum F (w - w*)^2
    ewc_gamma: float | None = None  # online EWC: decay of the running Fisher
    fisher_batch_size: int = 1  # samples per gradient in the Fisher (1: per-sample Fisher)
    si_c: float | None = None  # in their convention: loss + c sum Omega (w - w*)^2
    si_epsilon: float = 0.1  # SI damping (van de Ven & Tolias 2019)
    lwf_alpha: float | None = None  # null: their weighting, alpha = (tasks so far - 1) T^2
    lwf_temperature: float = 2.0
    replay_mem_size: int = 1000  # samples kept in the replay buffer (all tasks together)
    lora_rank: int = 8
    lora_alpha: float = 8.0  # adapter output scaled by lora_alpha / lora_rank
    # Baselines: a fresh Adam state at every task (as the hypernetwork learner). False keeps
    # one Adam state across tasks, the default of van de Ven & Tolias' code.
    reset_optimizer: bool = True
    # method=hnet in CL2/CL3: ent (entropy) or tir (task-inference network + replay VAE).
    task_inference: TaskInference = TaskInference.ent


@dataclass
class TrainConfig:
    """Optimisation settings.

    The training budget of a task is set in exactly one of two ways, never both:
    ``iters_per_task`` (a fixed number of steps) or ``epochs_per_task`` (passes over the
    task's training set). The other one must be null; :func:`validate` raises a
    :class:`ConfigError` if both are set (an override of one would otherwise be silently
    ignored) or neither is. The MNIST presets train by iterations (``epochs_per_task:
    null``); the CIFAR presets by epochs (``iters_per_task: null``). To switch, null the
    other key: ``experiment=split_cifar10_100_resnet32 train.epochs_per_task=null
    train.iters_per_task=100``.
    """

    iters_per_task: int | None = 2000  # null: train by epochs_per_task instead
    batch_size: int = 128
    lr: float = 1e-3
    # Test images per evaluation call (x every candidate task in CL2/CL3). At 500, a 10-task
    # call's activations (10 x 500 x 1000 floats, 20 MB) stay below the 32 MB mmap threshold
    # hypercl.train sets; 5000 ran 1.2x slower on the 2-core CPU (scripts/bench.py).
    eval_batch_size: int = 500
    log_every: int = 100  # iterations between loss readouts (progress bar, W&B)
    cuda_graphs: bool = True  # on CUDA, replay each training step as one captured graph
    checkpoint_every: int = 1000  # steps between checkpoints (one is also kept after each task)
    # Epochs per task (then iters_per_task must be null): one epoch is
    # (training samples // batch_size) iterations, so tasks of different sizes differ.
    epochs_per_task: int | None = None
    # Learning-rate schedule: from epoch lr_milestones[i] on (counted from 0 within each
    # task), lr = train.lr * lr_factors[i]. Empty: constant lr.
    lr_milestones: list[int] = field(default_factory=list)
    lr_factors: list[float] = field(default_factory=list)
    adam_beta1: float = 0.9  # Adam's first-moment decay (beta2 stays 0.999)
    # Fraction of each task's training set held out for validation (0: none). Validation
    # accuracies are reported next to the test ones, so tuning never needs the test set.
    val_fraction: float = 0.0
    # Which tasks are tested after each task (cost of the evaluation, #tasks^2/2 test sets
    # with ``all``): ``all`` (the whole lower triangle), ``diagonal`` (after task t only
    # task t, plus the full last row), ``none`` (the last row only). Entries not measured
    # are null in results.json and blank in accuracy_matrix.csv.
    eval_every_task: EvalEvery = EvalEvery.all

    def iters_per_epoch(self, num_train: int) -> int:
        """Full batches in one pass over ``num_train`` samples (the last partial is dropped)."""
        return max(1, num_train // self.batch_size)

    def task_iters(self, num_train: int) -> int:
        """Training steps for a task of ``num_train`` samples: ``epochs_per_task`` epochs if
        set, else ``iters_per_task``."""
        if self.epochs_per_task is None:
            return self.iters_per_task
        return self.epochs_per_task * self.iters_per_epoch(num_train)


def _replay_hnet() -> HNetConfig:
    return HNetConfig(
        kind=HNetKind.chunked,
        hidden=[10, 10],
        activation=Activation.elu,
        task_emb_dim=96,
        chunk_size=50000,
        chunk_emb_dim=96,
    )


@dataclass
class ReplayConfig:
    """The replay VAE of HNET+TIR, HNET+R and DGR (:mod:`hypercl.replay`).

    Defaults: the official code's Split-MNIST values (``chrhenning/hypercl``,
    ``mnist/train_args_default.py``); the Permuted-MNIST presets override them. The
    decoder's size depends on the method, as there: ``dec_hidden_tir`` (HNET+TIR) and
    ``dec_hidden_r`` (HNET+R and DGR). Its condition is a one-hot task vector of
    ``max(cond_dim, num_tasks)`` units (the official code fixes 100).
    """

    latent_dim: int = 100
    cond_dim: int = 100  # one-hot task condition: max(cond_dim, num_tasks) units
    enc_hidden: list[int] = field(default_factory=lambda: [400, 400])
    dec_hidden_tir: list[int] = field(default_factory=lambda: [50, 150])
    dec_hidden_r: list[int] = field(default_factory=lambda: [250, 350])
    hnet: HNetConfig = field(default_factory=_replay_hnet)  # the decoder's hypernetwork
    beta: float = 0.01  # rp_beta: output regularizer of the decoder's hypernetwork
    enc_lr: float = 1e-3
    dec_lr: float = 1e-3  # decoder hnet theta (HNET variants) or decoder weights (DGR)
    dec_emb_lr: float = 1e-3  # the current task's decoder embedding
    # VAE steps per task; null: the classifier's (train.iters_per_task / epochs_per_task)
    iters_per_task: int | None = None
    replay_weight: float = 0.5  # l_rew: loss = (1 - l_rew) * real + l_rew * replay
    kd_temperature: float = 2.0  # HNET+R / DGR distillation temperature (loss scaled T^2)


@dataclass
class LoggerConfig:
    kind: LoggerKind = LoggerKind.none
    mode: WandbMode = WandbMode.offline
    project: str = "hypercl"
    entity: str | None = None
    group: str | None = None  # null: the experiment name, so a sweep's jobs share a group
    tags: list[str] = field(default_factory=list)


@dataclass
class Config:
    name: str = "split_mnist_cl1"
    seed: int = 1
    data_dir: str = "${oc.env:HYPERCL_DATA_DIR,./data}"
    device: Device = Device.auto
    num_threads: int | None = None  # torch intra-op threads on CPU; null = torch default
    deterministic: bool = False  # deterministic kernels only (CUDA: slower; CPU is already)
    data_download: bool = True  # let torchvision download missing data sets into data_dir
    scenario: Scenario = Scenario.cl1
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    hnet: HNetConfig = field(default_factory=HNetConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


# The key of each method's regularization strength, for the NaN message.
STRENGTH_KEYS = {
    MethodName.hnet: "method.beta",
    MethodName.ewc: "method.ewc_lambda",
    MethodName.online_ewc: "method.ewc_lambda",
    MethodName.si: "method.si_c",
    MethodName.lwf: "method.lwf_alpha",
}


def keys_to_lower(method: MethodConfig, train: TrainConfig) -> dict[str, object]:
    """The keys to lower after a NaN classifier loss, with their values: ``train.lr`` and
    the method's regularization strength if it has one (None: the published value)."""
    keys: dict[str, object] = {"train.lr": train.lr}
    strength = STRENGTH_KEYS.get(method.name)
    if strength is not None:
        keys[strength] = getattr(method, strength.removeprefix("method."))
    return keys


# The schema is what ``conf/config.yaml`` names ``base_config``; importing this module is
# enough for Hydra (CLI, compose API, scripts) to find it.
ConfigStore.instance().store(name="base_config", node=Config)


def _require(ok: bool, key: str, value: object, rule: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: {rule}.")


def validate(cfg: Config) -> None:
    """Check values that the types allow but the experiment cannot use.

    Raises:
        ConfigError: naming the first offending key, its value and what is allowed.
    """
    positive = {
        "benchmark.num_tasks": cfg.benchmark.num_tasks,
        "hnet.task_emb_dim": cfg.hnet.task_emb_dim,
        "hnet.chunk_size": cfg.hnet.chunk_size,
        "hnet.chunk_emb_dim": cfg.hnet.chunk_emb_dim,
        "train.batch_size": cfg.train.batch_size,
        "train.eval_batch_size": cfg.train.eval_batch_size,
        "train.log_every": cfg.train.log_every,
        "train.checkpoint_every": cfg.train.checkpoint_every,
    }
    for key, value in positive.items():
        _require(value > 0, key, value, "must be a positive integer")
    _require(cfg.benchmark.padding >= 0, "benchmark.padding", cfg.benchmark.padding, "must be >= 0")
    for key, sizes in {"hnet.hidden": cfg.hnet.hidden, "target.hidden": cfg.target.hidden}.items():
        _require(all(s > 0 for s in sizes), key, sizes, "every layer size must be positive")
    lr, beta = cfg.train.lr, cfg.method.beta
    _require(math.isfinite(lr) and lr > 0, "train.lr", lr, "must be a finite number > 0")
    _require(math.isfinite(beta) and beta >= 0, "method.beta", beta, "must be a finite number >= 0")
    if cfg.method.reg_subset is not None:
        _require(
            cfg.method.reg_subset > 0,
            "method.reg_subset",
            cfg.method.reg_subset,
            "must be a positive number of previous tasks, or null for all of them",
        )
    if cfg.num_threads is not None:
        _require(cfg.num_threads > 0, "num_threads", cfg.num_threads, "must be positive or null")
    for key, seed in {"seed": cfg.seed, "benchmark.data_seed": cfg.benchmark.data_seed}.items():
        _require(0 <= seed < 2**32, key, seed, "must be in [0, 2**32 - 1] (numpy's range)")
    validate_cifar_fields(cfg)
    validate_baseline(cfg)
    validate_replay(cfg)


def validate_baseline(cfg: Config) -> None:
    """The baselines fix settings that would otherwise change what they measure."""
    name = cfg.method.name.value
    if cfg.method.name == MethodName.from_scratch:
        _require(
            cfg.method.beta == 0,
            "method.beta",
            cfg.method.beta,
            f"method.name={name} trains without the output regularizer; set method.beta=0",
        )
    if cfg.method.lookahead_adam != LookaheadAdam.torch:
        _require(
            cfg.method.name == MethodName.hnet and cfg.method.lookahead,
            "method.lookahead_adam",
            cfg.method.lookahead_adam.value,
            "changes the step of the classifier's lookahead, which only method=hnet with "
            f"method.lookahead=true takes (here method.name={name}, method.lookahead="
            f"{str(cfg.method.lookahead).lower()}); remove the override",
        )
    if cfg.method.name in HNET_METHODS:
        _require(
            cfg.method.reset_optimizer,
            "method.reset_optimizer",
            cfg.method.reset_optimizer,
            f"method.name={name} starts a fresh Adam state at every task (only the baselines "
            "can keep one); remove the override",
        )
    elif cfg.method.name not in REPLAY_METHODS:  # the replay methods: validate_replay
        _require(
            cfg.target.name == TargetName.mlp,
            "target.name",
            cfg.target.name.value,
            f"method.name={name} (an Avalanche baseline) runs the MLP target; use target=mlp",
        )
        for key in ("fisher_batch_size", "replay_mem_size", "lora_rank"):
            value = getattr(cfg.method, key)
            _require(value > 0, f"method.{key}", value, "must be a positive integer")
        validate_baseline_strengths(cfg.method)


def validate_baseline_strengths(method: MethodConfig) -> None:
    """The baselines' strengths, temperatures and damping (null: the published value)."""
    for key in ("ewc_lambda", "si_c", "lwf_alpha"):
        value = getattr(method, key)
        if value is not None:
            ok = math.isfinite(value) and value >= 0
            _require(ok, f"method.{key}", value, "must be a finite number >= 0, or null")
    if method.ewc_gamma is not None:
        ok = 0 <= method.ewc_gamma <= 1
        _require(ok, "method.ewc_gamma", method.ewc_gamma, "must be in [0, 1], or null")
    for key in ("si_epsilon", "lwf_temperature", "lora_alpha"):
        value = getattr(method, key)
        _require(
            math.isfinite(value) and value > 0,
            f"method.{key}",
            value,
            "must be a finite number > 0",
        )


def uses_replay(cfg: Config) -> bool:
    """Whether the run trains the replay VAE (HNET+TIR in CL2/CL3, HNET+R, DGR)."""
    tir = cfg.method.name == MethodName.hnet and cfg.method.task_inference == TaskInference.tir
    return cfg.method.name in REPLAY_METHODS or (tir and cfg.scenario != Scenario.cl1)


def validate_replay(cfg: Config) -> None:
    """The task-inference choice and the ``replay.*`` values (only where they are used)."""
    name = cfg.method.name.value
    if cfg.method.task_inference == TaskInference.tir:
        _require(
            cfg.method.name == MethodName.hnet,
            "method.task_inference",
            "tir",
            f"only method=hnet infers the task with a network (method.name={name}); "
            "remove the override",
        )
    if not uses_replay(cfg):
        return
    mnist = (BenchmarkName.split_mnist, BenchmarkName.perm_mnist)
    _require(
        cfg.benchmark.name in mnist,
        "benchmark.name",
        cfg.benchmark.name.value,
        f"method.name={name} with generative replay needs inputs in [0, 1] for its VAE: "
        "use split_mnist or perm_mnist",
    )
    _require(
        cfg.target.name == TargetName.mlp,
        "target.name",
        cfg.target.name.value,
        f"method.name={name} with generative replay runs MLPs; use target=mlp",
    )
    _require(
        not cfg.train.lr_milestones,
        "train.lr_milestones",
        list(cfg.train.lr_milestones),
        f"method.name={name} with generative replay trains with a constant learning rate; set []",
    )
    if cfg.method.name in REPLAY_METHODS:
        _require(
            cfg.method.reset_optimizer,
            "method.reset_optimizer",
            cfg.method.reset_optimizer,
            f"method.name={name} starts a fresh Adam state at every task (as the official "
            "code); remove the override",
        )
    rp = cfg.replay
    positive = {
        "replay.latent_dim": rp.latent_dim,
        "replay.cond_dim": rp.cond_dim,
        "replay.hnet.task_emb_dim": rp.hnet.task_emb_dim,
        "replay.hnet.chunk_size": rp.hnet.chunk_size,
        "replay.hnet.chunk_emb_dim": rp.hnet.chunk_emb_dim,
    }
    if rp.iters_per_task is not None:
        positive["replay.iters_per_task"] = rp.iters_per_task
    for key, value in positive.items():
        _require(value > 0, key, value, "must be a positive integer")
    sizes = {
        "replay.enc_hidden": rp.enc_hidden,
        "replay.dec_hidden_tir": rp.dec_hidden_tir,
        "replay.dec_hidden_r": rp.dec_hidden_r,
        "replay.hnet.hidden": rp.hnet.hidden,
    }
    for key, value in sizes.items():
        _require(all(s > 0 for s in value), key, list(value), "every layer size must be positive")
    for key in ("enc_lr", "dec_lr", "dec_emb_lr", "kd_temperature"):
        value = getattr(rp, key)
        _require(math.isfinite(value) and value > 0, f"replay.{key}", value, "must be > 0")
    _require(
        math.isfinite(rp.beta) and rp.beta >= 0, "replay.beta", rp.beta, "must be a number >= 0"
    )
    _require(
        0 <= rp.replay_weight < 1,
        "replay.replay_weight",
        rp.replay_weight,
        "must be in [0, 1) (the weight of the replayed samples' loss)",
    )


def validate_budget(train: TrainConfig) -> None:
    """Exactly one of train.iters_per_task and train.epochs_per_task is set (see TrainConfig)."""
    iters, epochs = train.iters_per_task, train.epochs_per_task
    if iters is not None and epochs is not None:
        raise ConfigError(
            f"train.iters_per_task={iters} and train.epochs_per_task={epochs} are both set: "
            "they are mutually exclusive; train by iterations with train.epochs_per_task=null, "
            "or by epochs with train.iters_per_task=null."
        )
    if iters is None and epochs is None:
        raise ConfigError(
            "train.iters_per_task and train.epochs_per_task are both null: set one of them, "
            "e.g. train.iters_per_task=2000 or train.epochs_per_task=10."
        )


def validate_cifar_fields(cfg: Config) -> None:
    """Checks of the epoch, schedule, Adam, validation and subset settings."""
    train = cfg.train
    if train.iters_per_task is not None:
        _require(
            train.iters_per_task > 0,
            "train.iters_per_task",
            train.iters_per_task,
            "must be a positive integer, or null to use train.epochs_per_task",
        )
    if train.epochs_per_task is not None:
        _require(
            train.epochs_per_task > 0,
            "train.epochs_per_task",
            train.epochs_per_task,
            "must be a positive integer, or null to use train.iters_per_task",
        )
    validate_budget(train)
    _require(
        len(train.lr_milestones) == len(train.lr_factors),
        "train.lr_milestones",
        train.lr_milestones,
        f"needs one factor per milestone in train.lr_factors (got {len(train.lr_factors)})",
    )
    steps = list(train.lr_milestones)
    _require(
        all(m > 0 for m in steps) and steps == sorted(set(steps)),
        "train.lr_milestones",
        steps,
        "must be positive epochs in increasing order",
    )
    _require(
        all(f > 0 for f in train.lr_factors),
        "train.lr_factors",
        train.lr_factors,
        "every factor must be > 0",
    )
    _require(0 <= train.adam_beta1 < 1, "train.adam_beta1", train.adam_beta1, "must be in [0, 1)")
    _require(
        0 <= train.val_fraction < 1, "train.val_fraction", train.val_fraction, "must be in [0, 1)"
    )
    for key, value in {
        "benchmark.train_subset": cfg.benchmark.train_subset,
        "benchmark.test_subset": cfg.benchmark.test_subset,
    }.items():
        if value is not None:
            _require(value > 0, key, value, "must be a positive number of images, or null for all")
