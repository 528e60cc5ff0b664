"""The baselines' hyperparameters: the config's values, nulls filled with van de Ven &
Tolias' (2019) published ones for each benchmark and scenario."""

from __future__ import annotations

from hypercl.config import Config, ConfigError, MethodName

# Hyperparameters of van de Ven & Tolias (2019), "Three scenarios for continual learning"
# (arXiv:1904.07734), as set by their code's defaults for each experiment and scenario
# (github.com/GMvandeVen/continual-learning, param_values.py of the 2019 version): EWC
# lambda, online EWC lambda and gamma, SI c. Their EWC penalty is lambda/2 sum F (w - w*)^2
# with a per-sample Fisher, their SI penalty c sum Omega (w - w*)^2 with damping 0.1.
VAN_DE_VEN = {
    ("split_mnist", "cl1"): {"ewc": 1e7, "online_ewc": 1e8, "gamma": 0.8, "si": 50.0},
    ("split_mnist", "cl2"): {"ewc": 1e6, "online_ewc": 1e8, "gamma": 0.7, "si": 500.0},
    ("split_mnist", "cl3"): {"ewc": 1e8, "online_ewc": 1e9, "gamma": 0.8, "si": 0.5},
    ("perm_mnist", "cl1"): {"ewc": 500.0, "online_ewc": 500.0, "gamma": 0.8, "si": 5.0},
    ("perm_mnist", "cl2"): {"ewc": 500.0, "online_ewc": 1000.0, "gamma": 0.9, "si": 5.0},
    ("perm_mnist", "cl3"): {"ewc": 1.0, "online_ewc": 5.0, "gamma": 1.0, "si": 0.1},
}
# PermutedMNIST-100 (task-incremental): what von Oswald et al. (2020) ran van de Ven's code
# with for their Perm-100 figure (hypercl:mnist/README.rst: "--ewc --online --lambda=100
# --gamma=1", "--si --c=0.1"). Other scenarios of 100 tasks fall back to VAN_DE_VEN.
PERM100 = {("perm_mnist", "cl1"): {"online_ewc": 100.0, "gamma": 1.0, "si": 0.1}}


def hyperparameters(cfg: Config, benchmark: str, num_tasks: int) -> dict:
    """The method's hyperparameters, nulls filled from :data:`VAN_DE_VEN` (recorded in
    ``results.json`` as ``method_hparams``)."""
    hparams = _method_hyperparameters(cfg, benchmark, num_tasks)
    return {**hparams, "reset_optimizer": cfg.method.reset_optimizer}


def _method_hyperparameters(cfg: Config, benchmark: str, num_tasks: int) -> dict:
    m, name = cfg.method, cfg.method.name
    published = VAN_DE_VEN.get((benchmark, cfg.scenario.value), {})
    if num_tasks >= 100:
        published = {**published, **PERM100.get((benchmark, cfg.scenario.value), {})}

    def pick(value, key: str, config_key: str):
        if value is not None:
            return value
        if key not in published:
            raise ConfigError(
                f"method.{config_key}=None is invalid for {benchmark}/{cfg.scenario.value}: "
                "no published value to fill in; set a number."
            )
        return published[key]

    if name in (MethodName.ewc, MethodName.online_ewc):
        hp = {
            "ewc_lambda": pick(m.ewc_lambda, name.value, "ewc_lambda"),
            "fisher_batch_size": m.fisher_batch_size,
        }
        if name == MethodName.online_ewc:
            hp["ewc_gamma"] = pick(m.ewc_gamma, "gamma", "ewc_gamma")
        return hp
    if name == MethodName.si:
        return {"si_c": pick(m.si_c, "si", "si_c"), "si_epsilon": m.si_epsilon}
    if name == MethodName.lwf:
        t2 = m.lwf_temperature**2
        alpha = [k * t2 for k in range(num_tasks)] if m.lwf_alpha is None else m.lwf_alpha
        return {"lwf_alpha": alpha, "lwf_temperature": m.lwf_temperature}
    if name == MethodName.replay:
        return {"replay_mem_size": m.replay_mem_size}
    if name == MethodName.lora:
        return {"lora_rank": m.lora_rank, "lora_alpha": m.lora_alpha}
    return {}
