"""Every key of the config schema (``hypercl.config.Config``) has a row in
docs/configuration.md's key tables.

A row documents the keys in its first cell: full keys (``train.lr``), bare top-level keys
(``seed``) and shorthands (``.lr_milestones`` after ``train.epochs_per_task`` in the same
cell: ``train.lr_milestones``). A row whose first key names a config group (``hnet``,
``replay.*``) also documents the keys its meaning cell names, bare (``hidden``:
``hnet.hidden``) or in full (``benchmark.num_tasks``, ``logger.mode=offline``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from hypercl.config import Config

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def schema_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Dotted paths of the leaf fields of ``cls``, recursing into dataclass-typed fields."""
    keys = []
    for f in dataclasses.fields(cls):
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(value):
            keys += schema_keys(type(value), f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def code_spans(cell: str) -> list[str]:
    """The keys in a cell's code spans, without a value (``logger.mode=offline``)."""
    return [span.split("=")[0].strip() for span in re.findall(r"`([^`]+)`", cell)]


def documented_keys(text: str, groups: set[str]) -> set[str]:
    """The keys the table rows of ``text`` document (see the module docstring)."""
    keys: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = re.split(r"(?<!\\)\|", line)[1:-1]  # `a\|b` is one cell
        spans, prefix = code_spans(cells[0]), None
        for span in spans:
            if span.startswith("."):
                if prefix:
                    keys.add(prefix + span)
            else:
                keys.add(span)
                prefix = prefix or span.rpartition(".")[0]
        group = spans[0].removesuffix(".*") if spans else None
        if group in groups and len(cells) > 1:
            for span in code_spans(cells[1]):
                keys.add(span if span.startswith(group + ".") else f"{group}.{span}")
    return keys


def test_every_config_key_is_documented() -> None:
    keys = schema_keys()
    groups = {key.split(".")[0] for key in keys if "." in key}
    documented = documented_keys(DOC.read_text(encoding="utf-8"), groups)
    missing = [key for key in keys if key not in documented]
    assert not missing, (
        f"config keys without a row in docs/configuration.md: {', '.join(missing)}; "
        "add them to docs/configuration.md (what each does, its default)"
    )
