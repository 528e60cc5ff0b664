"""Read the records of an offline W&B run file (``run-<id>.wandb``) for assertions.

The file is a 7-byte header (``:W&B``, magic, version) followed by LevelDB-log blocks of
32 KiB; each chunk has a 7-byte header (crc32, length, type: 1 full, 2 first, 3 middle,
4 last) and carries part of a serialized ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import struct
from pathlib import Path

BLOCK = 32768


def read_records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    raw = path.read_bytes()
    assert raw[:4] == b":W&B", f"{path} is not a W&B run file"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(raw):
        if BLOCK - pos % BLOCK < 7:  # block trailer too small for a header: skip it
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        pending += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def run_info(path: Path):
    """The RunRecord (id, project, run_group, display_name, ...) of a run file."""
    for record in read_records(path):
        if record.WhichOneof("record_type") == "run":
            return record.run
    raise AssertionError(f"no run record in {path}")


def history_keys(path: Path) -> set[str]:
    """Every key logged with ``wandb.log`` (the history rows) in a run file."""
    keys = set()
    for record in read_records(path):
        if record.WhichOneof("record_type") == "history":
            keys |= {_key(item) for item in record.history.item}
    return keys


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def history_rows(path: Path) -> dict[int, dict]:
    """The history rows of a run file: step -> {key: value} (``_step``, ``_runtime`` and
    ``_timestamp`` left out). Rows logged again for a step already written are merged."""
    import json

    rows: dict[int, dict] = {}
    for record in read_records(path):
        if record.WhichOneof("record_type") == "history":
            items = {_key(i): json.loads(i.value_json) for i in record.history.item}
            step = items.pop("_step")
            row = {k: v for k, v in items.items() if k not in ("_runtime", "_timestamp")}
            rows.setdefault(step, {}).update(row)
    return rows


def run_config(path: Path) -> dict:
    """The run's config (``wandb.init(config=...)``) from the run record of a run file."""
    import json

    return {
        _key(item): json.loads(item.value_json)
        for item in run_info(path).config.update
        if _key(item) != "_wandb"
    }
