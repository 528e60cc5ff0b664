"""Command-line overrides the run would not read: an error, never a silent no-op.

The config schema holds every method's keys, so ``method=ewc method.beta=0.1`` composes
fine, yet EWC never reads ``method.beta``: the run would look like a β sweep and be the
same run twice. :func:`check_overrides` refuses such an override with the reason, before
anything is written. Only what the user typed is checked (``hydra.overrides.task``), not
what a preset sets for the methods it may be combined with.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypercl.config import (
    HNET_METHODS,
    REPLAY_METHODS,
    BenchmarkName,
    Config,
    HNetKind,
    LoggerKind,
    MethodName,
    Scenario,
    TargetName,
    TaskInference,
    uses_replay,
)
from hypercl.data.cifar import CIFAR_STREAMS
from hypercl.errors import ConfigError

M = MethodName
# method.<key>: the methods that read it (the rest of MethodConfig is read by every method).
METHOD_KEYS: dict[str, tuple[MethodName, ...]] = {
    "beta": (M.hnet,),
    "reg_subset": (M.hnet,),
    "reg_targets": (M.hnet,),
    "reg_impl": (M.hnet,),
    "ignore_other_heads": (M.hnet,),
    "task_inference": (M.hnet,),
    "lookahead": (M.hnet, M.hnet_replay),  # hnet_replay: its decoder's hypernetwork
    "lookahead_adam": (M.hnet,),  # the classifier's lookahead only
    "ewc_lambda": (M.ewc, M.online_ewc),
    "ewc_gamma": (M.online_ewc,),
    "fisher_batch_size": (M.ewc, M.online_ewc),
    "si_c": (M.si,),
    "si_epsilon": (M.si,),
    "lwf_alpha": (M.lwf,),
    "lwf_temperature": (M.lwf,),
    "replay_mem_size": (M.replay,),
    "lora_rank": (M.lora,),
    "lora_alpha": (M.lora,),
    "reset_optimizer": tuple(m for m in M if m not in HNET_METHODS + REPLAY_METHODS),
}
REMOVE = "remove the override"


def unread_keys(cfg: Config) -> dict[str, str]:
    """The config keys this run does not read, each with the reason and the fix. A key
    stands for itself and everything below it (``hnet`` covers ``hnet.hidden``) and for
    the config group of that name (``hnet=full``)."""
    name = cfg.method.name
    method = f"method={name.value}"
    unread = {}
    for key, users in METHOD_KEYS.items():
        if name not in users:
            readers = ", ".join(f"method={m.value}" for m in users)
            unread[f"method.{key}"] = f"{method} does not use it (read by {readers}); {REMOVE}"
    if name != M.hnet:
        why = f"{method} has no hypernetwork classifier; {REMOVE}"
        unread |= {"hnet": why, "compression": why}
    elif cfg.hnet.kind == HNetKind.full:
        for key in ("hnet.chunk_size", "hnet.chunk_emb_dim"):
            unread[key] = f"hnet.kind=full makes all weights at once, without chunks; {REMOVE}"
    if name == M.hnet and cfg.scenario == Scenario.cl1:
        unread["method.task_inference"] = f"in CL1 the task is given, not inferred; {REMOVE}"
    subset, most = cfg.method.reg_subset, cfg.benchmark.num_tasks - 1
    if name == M.hnet and subset is not None and subset >= most:
        unread["method.reg_subset"] = (
            f"with {most + 1} tasks a step has at most {most} previous tasks, so it "
            f"regularizes all of them, as null does; {REMOVE}"
        )
    if cfg.logger.kind == LoggerKind.none:
        for key in ("mode", "project", "entity", "group", "tags"):
            unread[f"logger.{key}"] = "logger=none logs nowhere; add logger=wandb to use it"
    return unread | _unread_replay_keys(cfg) | _unread_data_keys(cfg)


def _unread_replay_keys(cfg: Config) -> dict[str, str]:
    """``replay.*``: read only by runs that train the replay VAE, and in part by method."""
    name = cfg.method.name
    if not uses_replay(cfg):
        where = f" in {cfg.scenario.value.upper()}" if name == M.hnet else ""
        return {
            "replay": f"method={name.value}{where} trains no replay model (method=hnet_replay, "
            f"method=dgr and, in CL2/CL3, method.task_inference=tir do); {REMOVE}"
        }
    unread = {}
    if name == M.hnet and cfg.method.task_inference == TaskInference.tir:
        for key in ("dec_hidden_r", "kd_temperature"):
            unread[f"replay.{key}"] = f"HNET+TIR does not use it (HNET+R and DGR do); {REMOVE}"
    else:
        unread["replay.dec_hidden_tir"] = f"only HNET+TIR uses it (here: dec_hidden_r); {REMOVE}"
    if name == M.dgr:
        for key in ("hnet", "beta", "dec_emb_lr"):
            unread[f"replay.{key}"] = f"method=dgr's decoder is a plain network; {REMOVE}"
    elif cfg.replay.hnet.kind == HNetKind.full:
        for key in ("replay.hnet.chunk_size", "replay.hnet.chunk_emb_dim"):
            unread[key] = (
                f"replay.hnet.kind=full makes all weights at once, without chunks; {REMOVE}"
            )
    return unread


def _unread_data_keys(cfg: Config) -> dict[str, str]:
    """``benchmark.*`` and ``target.*`` keys the chosen benchmark or target ignores."""
    bench, unread = cfg.benchmark.name, {}
    if bench != BenchmarkName.perm_mnist:
        for key in ("padding", "permute_first_task"):
            unread[f"benchmark.{key}"] = f"only perm_mnist uses it (here: {bench.value}); {REMOVE}"
    if bench not in CIFAR_STREAMS:
        for key in ("augment", "normalize", "train_subset", "test_subset"):
            unread[f"benchmark.{key}"] = f"only Split-CIFAR uses it (here: {bench.value}); {REMOVE}"
    subsets = bench in CIFAR_STREAMS and (cfg.benchmark.train_subset or cfg.benchmark.test_subset)
    if bench != BenchmarkName.perm_mnist and cfg.train.val_fraction == 0 and not subsets:
        unread["benchmark.data_seed"] = (
            f"{bench.value} without train.val_fraction or image subsets draws nothing from it "
            f"(it seeds perm_mnist's permutations, the validation split and CIFAR's subsets); "
            f"{REMOVE}"
        )
    target = cfg.target.name
    if target != TargetName.mlp:
        for key in ("hidden", "activation"):
            unread[f"target.{key}"] = f"target={target.value} has a fixed architecture; {REMOVE}"
    if target != TargetName.resnet32:
        unread["target.per_task_bn"] = f"target={target.value} has no batch norm; {REMOVE}"
    return unread


def override_key(override: str) -> str:
    """The key or group an override sets: ``+method.beta=0.1`` -> ``method.beta``,
    ``hnet@x=full`` -> ``hnet``."""
    key = override.split("=", 1)[0].lstrip("+~")
    return key.split("@", 1)[0]


def check_overrides(cfg: Config, overrides: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for the first override (as typed, ``key=value``) that sets
    a key the run does not read (:func:`unread_keys`)."""
    unread = unread_keys(cfg)
    for override in overrides:
        key = override_key(override)
        for prefix, why in unread.items():
            if key == prefix or key.startswith(prefix + "."):
                raise ConfigError(f"{override} has no effect: {why}.")
