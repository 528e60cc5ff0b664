"""Checkpoint writing: a failed write (disk full) keeps the previous checkpoint, leaves no
temporary file and says what to do."""

from __future__ import annotations

import pytest
import torch

from hypercl import checkpoint
from hypercl.checkpoint import save_checkpoint
from hypercl.errors import CheckpointError

DISK_FULL = (
    "[enforce fail at inline_container.cc:672] . unexpected pos 4718592 vs 4718528\n"
    "PytorchStreamWriter failed writing file data/3: file write failed"
)


def test_disk_full_keeps_the_previous_checkpoint_and_removes_the_partial_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1})
    before = path.read_bytes()

    def full_disk(obj, f, *args, **kwargs):
        f.write(b"x" * 1000)  # a partial file, as when the disk fills mid-write
        raise RuntimeError(DISK_FULL)

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(CheckpointError) as err:
        save_checkpoint(path, {"step": 2})
    assert str(err.value) == (
        f"could not write the checkpoint {path} ([enforce fail at inline_container.cc:672] . "
        f"unexpected pos 4718592 vs 4718528); the previous checkpoint {path} is intact. "
        "Free disk space (df -h) or fix the directory's permissions, then re-run the same "
        "command to resume."
    )
    assert err.value.exit_code == 4
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    monkeypatch.undo()
    assert torch.load(path, weights_only=False) == {"step": 1}


def test_a_run_records_the_hardware_it_started_and_resumed_on():
    from hypercl.environment import hardware_name
    from hypercl.experiment import run_hardware

    cpu = torch.device("cpu")
    here = hardware_name(cpu)
    assert run_hardware(None, cpu) == here
    assert run_hardware({"hardware": here}, cpu) == here
    assert run_hardware({"hardware": "AMD EPYC 9454"}, cpu) == f"AMD EPYC 9454+{here}"
    assert run_hardware({"hardware": f"AMD EPYC 9454+{here}"}, cpu) == f"AMD EPYC 9454+{here}"
    assert run_hardware({}, cpu) == f"not recorded+{here}"  # started by older code


def test_a_run_resumed_twice_by_the_same_code_records_its_fingerprint_once(monkeypatch):
    import hypercl.experiment as experiment

    monkeypatch.setattr(experiment, "code_fingerprint", lambda: "bbbbbbbbbbbb")
    started = {"git_commit": "c0ffee", "code_fingerprint": "aaaaaaaaaaaa"}
    commit, once = experiment.code_identity(started)
    assert (commit, once) == ("c0ffee", "aaaaaaaaaaaa+bbbbbbbbbbbb")
    again = experiment.code_identity({"git_commit": "c0ffee", "code_fingerprint": once})
    assert again == ("c0ffee", "aaaaaaaaaaaa+bbbbbbbbbbbb")
    same = {"git_commit": "c0ffee", "code_fingerprint": "bbbbbbbbbbbb"}
    assert experiment.code_identity(same) == ("c0ffee", "bbbbbbbbbbbb")


def test_a_run_begun_before_a_config_key_existed_resumes_and_a_changed_value_is_refused(
    tmp_path,
):
    """A config.yaml saved without method.lookahead_adam (added later) holds the value that
    gives the code before it, 'torch': the run resumes; another value is a new config."""
    import yaml
    from omegaconf import OmegaConf

    from hypercl.config import Config
    from hypercl.launch.callbacks import job_config, reuse_refusal

    cfg = OmegaConf.structured(Config())
    saved = job_config(cfg)
    del saved["method"]["lookahead_adam"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    (tmp_path / checkpoint.CHECKPOINT).write_bytes(b"")
    assert reuse_refusal(tmp_path, cfg) is None
    cfg.method.lookahead_adam = "legacy"
    err = reuse_refusal(tmp_path, cfg)
    assert "another config (method.lookahead_adam: 'torch' -> 'legacy')" in str(err)
