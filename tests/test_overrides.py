"""An override the run would not read is refused with its reason (hypercl.overrides); every
override this project documents or runs is read."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest
from test_train_run import compose_config

from hypercl.config import MethodConfig
from hypercl.errors import ConfigError
from hypercl.overrides import METHOD_KEYS, check_overrides, override_key, unread_keys

REPO = Path(__file__).resolve().parent.parent


def refusal(*overrides: str) -> str | None:
    """The message check_overrides gives for ``overrides`` (composed as typed), or None."""
    try:
        check_overrides(compose_config(*overrides), overrides)
    except ConfigError as err:
        return str(err)
    return None


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("method=ewc", "method.beta=0.1"), "method.beta=0.1 has no effect: method=ewc does not "
         "use it (read by method=hnet); remove the override."),
        (("method=si", "method.ewc_lambda=5"), "method.ewc_lambda=5 has no effect: method=si "
         "does not use it (read by method=ewc, method=online_ewc); remove the override."),
        (("method=finetune", "hnet=full"), "hnet=full has no effect: method=finetune has no "
         "hypernetwork classifier; remove the override."),
        (("method.task_inference=tir",), "method.task_inference=tir has no effect: in CL1 the "
         "task is given, not inferred; remove the override."),
        (("experiment=split_mnist_cl3", "replay.beta=0.1"), "replay.beta=0.1 has no effect: "
         "method=hnet in CL3 trains no replay model (method=hnet_replay, method=dgr and, in "
         "CL2/CL3, method.task_inference=tir do); remove the override."),
        (("experiment=split_mnist_cl3", "method=finetune", "replay.beta=0.1"),
         "replay.beta=0.1 has no effect: method=finetune trains no replay model "
         "(method=hnet_replay, method=dgr and, in CL2/CL3, method.task_inference=tir do); "
         "remove the override."),
        (("experiment=split_mnist_cl3", "method=dgr", "replay.hnet.hidden=[5]"),
         "replay.hnet.hidden=[5] has no effect: method=dgr's decoder is a plain network; "
         "remove the override."),
        (("experiment=split_mnist_cl2", "method.task_inference=tir", "replay.kd_temperature=3"),
         "replay.kd_temperature=3 has no effect: HNET+TIR does not use it (HNET+R and DGR do); "
         "remove the override."),
        (("benchmark.padding=0",), "benchmark.padding=0 has no effect: only perm_mnist uses it "
         "(here: split_mnist); remove the override."),
        (("experiment=split_cifar10_100_zenkenet_smoke", "target.per_task_bn=false"),
         "target.per_task_bn=false has no effect: target=zenkenet has no batch norm; remove the "
         "override."),
        (("method.reg_subset=4",), "method.reg_subset=4 has no effect: with 5 tasks a step "
         "has at most 4 previous tasks, so it regularizes all of them, as null does; remove "
         "the override."),
        (("hnet=full", "hnet.chunk_size=100"), "hnet.chunk_size=100 has no effect: hnet.kind=full "
         "makes all weights at once, without chunks; remove the override."),
        (("method=hnet_replay", "replay.hnet.kind=full", "replay.hnet.chunk_size=50"),
         "replay.hnet.chunk_size=50 has no effect: replay.hnet.kind=full makes all weights at "
         "once, without chunks; remove the override."),
        (("benchmark.data_seed=3",), "benchmark.data_seed=3 has no effect: split_mnist without "
         "train.val_fraction or image subsets draws nothing from it (it seeds perm_mnist's "
         "permutations, the validation split and CIFAR's subsets); remove the override."),
        (("logger.project=x",), "logger.project=x has no effect: logger=none logs nowhere; add "
         "logger=wandb to use it."),
    ],
)  # fmt: skip
def test_an_override_the_run_does_not_read_is_refused(overrides, message):
    assert refusal(*overrides) == message


@pytest.mark.parametrize(
    "overrides",
    [
        ("method=ewc", "method.ewc_lambda=100", "method.reset_optimizer=false"),
        ("method.beta=0.05", "method.lookahead=false", "hnet.hidden=[20]", "method.reg_subset=3"),
        ("experiment=split_mnist_cl3", "method=hnet_replay", "replay.beta=0.1",
         "method.lookahead=false", "replay.kd_temperature=3"),
        ("experiment=split_mnist_cl2", "method.task_inference=tir", "replay.dec_hidden_tir=[5]"),
        ("experiment=perm_mnist10_cl1", "benchmark.padding=0", "benchmark.data_seed=3"),
        ("train.val_fraction=0.1", "benchmark.data_seed=3"),
        ("experiment=split_cifar10_100_resnet32_smoke", "target.per_task_bn=false",
         "benchmark.augment=false"),
        ("logger=wandb", "logger.project=x", "seed=2"),
    ],
)  # fmt: skip
def test_an_override_the_run_reads_passes(overrides):
    assert refusal(*overrides) is None


def test_every_method_key_names_its_readers():
    """A new MethodConfig key must say which methods read it (or it is never checked)."""
    keys = {f.name for f in dataclasses.fields(MethodConfig)} - {"name"}
    assert keys == set(METHOD_KEYS)


def test_override_key_strips_prefixes_and_packages():
    assert override_key("+method.beta=0.1") == "method.beta"
    assert override_key("~logger.tags") == "logger.tags"
    assert override_key("hnet@x=full") == "hnet"
    assert "hnet" not in unread_keys(compose_config())  # method=hnet reads it


def documented_commands() -> list[list[str]]:
    """The overrides of every single-run `python -m hypercl.train` line in README's and
    docs/' code blocks (sweeps and lines with placeholders left out)."""
    commands = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for line in doc.read_text().splitlines():
            match = re.match(r"\s*(?:\$ )?python -m hypercl\.train (.*?)(?:\s+#.*)?$", line)
            if not match or " -m " in f" {match[1]} " or "<" in match[1] or "\\" in match[1]:
                continue
            words = shlex.split(match[1])
            commands.append([w for w in words if "=" in w and not w.startswith("hydra.")])
    return commands


def test_every_documented_command_sets_only_keys_it_reads():
    commands = documented_commands()
    assert len(commands) >= 10
    for overrides in commands:
        assert refusal(*overrides) is None, overrides
