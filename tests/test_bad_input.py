"""Every bad input in docs/checkpoints.md's table "Bad input" is tried here as a user would:
the command fails with a non-zero exit code and one clear message (no traceback), and
nothing that was already written is changed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from test_cli import REPO, hypercl_train

SMALL = ("num_threads=1", "train.iters_per_task=3")

# (overrides, what stderr must contain, exit code). {tmp} is a fresh temporary directory.
CASES = [
    ("benchmark=splitmnist", "Could not find 'benchmark/splitmnist'", 1),
    ("experiment=split_mnist_cl9", "Could not find 'experiment/split_mnist_cl9'", 1),
    ("train.lrr=1", "Key 'lrr' not in 'TrainConfig'", 1),
    ("train.lr=abc", "Value 'abc' of type 'str' could not be converted to Float", 1),
    ("scenario=cl4", "Invalid value 'cl4', expected one of [cl1, cl2, cl3]", 1),
    ("hnet.chunk_size=-5", "hnet.chunk_size=-5 is invalid: must be a positive integer.", 2),
    ("target.hidden=[400,0]", "target.hidden=[400, 0] is invalid: every layer size must be "
     "positive.", 2),
    ("train.lr=0", "train.lr=0.0 is invalid: must be a finite number > 0.", 2),
    ("train.lr=inf", "train.lr=inf is invalid: must be a finite number > 0.", 2),
    ("method.beta=-1", "method.beta=-1.0 is invalid: must be a finite number >= 0.", 2),
    ("num_threads=0", "num_threads=0 is invalid: must be positive or null.", 2),
    ("seed=-1", "seed=-1 is invalid: must be in [0, 2**32 - 1] (numpy's range).", 2),
    ("experiment=perm_mnist10_cl1 benchmark.data_seed=-3", "benchmark.data_seed=-3 is invalid: "
     "must be in [0, 2**32 - 1] (numpy's range).", 2),
    ("method=lwf method.lwf_temperature=0", "method.lwf_temperature=0.0 is invalid: must be a "
     "finite number > 0.", 2),
    ("method=ewc method.ewc_lambda=-1", "method.ewc_lambda=-1.0 is invalid: must be a finite "
     "number >= 0, or null.", 2),
    ("train.batch_size=20000", "hypercl: config error: train.batch_size=20000 is invalid: "
     "larger than task 3's 11263 training samples (after the validation split); choose at "
     "most 11263.", 2),
    ("train.lr_milestones=[1] train.lr_factors=[0.1]", "hypercl: config error: "
     "train.lr_milestones=[1] is invalid: milestone 1 is never reached, the longest task "
     "trains 1 epoch(s) (3 steps of batch 128); choose smaller milestones, or remove them, or "
     "train longer.", 2),
    ("train.checkpoint_every=0", "train.checkpoint_every=0 is invalid: must be a positive "
     "integer.", 2),
    ("train.val_fraction=1.5", "train.val_fraction=1.5 is invalid: must be in [0, 1).", 2),
    ("hnet.chunk_size=500000", "hnet.chunk_size=500000 is invalid: larger than the target "
     "network's 478410 weights; choose a chunk size <= 478410.", 2),
    ("method=hnet_replay replay.hnet.chunk_size=999999", "replay.hnet.chunk_size=999999 is "
     "invalid: larger than the decoder network's 413284 weights; choose a chunk size <= "
     "413284.", 2),
    ("benchmark.num_tasks=6", "benchmark.num_tasks=6 is invalid: split_mnist has exactly 5 "
     "tasks.", 2),
    ("data_dir={tmp}/nowhere data_download=false", "hypercl: data error: split_mnist needs "
     "MNIST in torchvision's layout under {tmp}/nowhere, but 4 file(s) are missing, e.g. "
     "{tmp}/nowhere/MNIST/raw/train-images-idx3-ubyte.", 2),
    ("data_dir={tmp}/corrupt", "hypercl: data error: could not load MNIST for split_mnist from "
     "{tmp}/corrupt", 2),
    ("data_dir={tmp}/a_file", "hypercl: data error: data_dir={tmp}/a_file is invalid: "
     "{tmp}/a_file is a file, not a directory.", 2),
    ("data_dir={tmp}/badlabels", "hypercl: data error: {tmp}/badlabels/MNIST/raw/"
     "train-labels-idx1-ubyte has 620 label(s) outside [0, 10) (e.g. 255): the file is "
     "corrupt.", 2),
    ("experiment=split_cifar10_100_resnet32 train.iters_per_task=3", "hypercl: config error: "
     "train.iters_per_task=3 and train.epochs_per_task=200 are both set: they are mutually "
     "exclusive; train by iterations with train.epochs_per_task=null, or by epochs with "
     "train.iters_per_task=null.", 2),
    ("hydra.run.dir={tmp}/a_file/run", "hypercl: run directory error: cannot write the run "
     "directory {tmp}/a_file/run: {tmp}/a_file is a file, not a directory.", 2),
    ("method=ewc method.beta=0.1", "hypercl: config error: method.beta=0.1 has no effect: "
     "method=ewc does not use it (read by method=hnet); remove the override.", 2),
    ("logger.mode=online", "hypercl: config error: logger.mode=online has no effect: "
     "logger=none logs nowhere; add logger=wandb to use it.", 2),
    ("train.lr=1e30", "hypercl: training stopped: the classifier's loss became NaN or infinite "
     "in task 1 at step", 3),
    ("hydra.run.dir={tmp}/finished train.iters_per_task=4", "hypercl: run directory error: "
     "{tmp}/finished holds a run with another config (train.iters_per_task: 3 -> 4).", 2),
]  # fmt: skip
if not torch.cuda.is_available():
    CASES.append(
        ("device=cuda", "device='cuda' is invalid: no CUDA device is visible; use device=cpu.", 2)
    )


def prepare(tmp: Path, mnist_dir: Path) -> None:
    """A plain file, a truncated copy of MNIST, one with 620 training labels set to 255 and
    a finished run under ``tmp``."""
    (tmp / "a_file").write_text("not a directory")
    corrupt = tmp / "corrupt" / "MNIST" / "raw"
    shutil.copytree(mnist_dir / "MNIST" / "raw", corrupt)
    images = corrupt / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100_000])
    (corrupt / "train-images-idx3-ubyte.gz").unlink()  # or torchvision would unpack it again
    bad = tmp / "badlabels" / "MNIST" / "raw"
    bad.mkdir(parents=True)
    for src in (mnist_dir / "MNIST" / "raw").iterdir():  # intact files: links, no copy
        (bad / src.name).symlink_to(src)
    labels = bad / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    labels.unlink()
    data[8 : 8 + 96 * 620 : 96] = b"\xff" * 620  # every 96th of the first 59,520 labels
    labels.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, mnist_dir) -> Path:
    """A finished run in ``<tmp>/finished``, beside what :func:`prepare` puts in ``<tmp>``."""
    tmp = tmp_path_factory.mktemp("bad")
    prepare(tmp, mnist_dir)
    run_dir = tmp / "finished"
    assert hypercl_train(*SMALL, f"hydra.run.dir={run_dir}", data_dir=mnist_dir).returncode == 0
    return run_dir


@pytest.mark.parametrize("overrides,expected,code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_message(overrides, expected, code, finished_run, mnist_dir):
    tmp = finished_run.parent
    before = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    args = overrides.format(tmp=tmp).split()
    if not any(a.startswith("hydra.run.dir=") for a in args):
        args.append(f"hydra.run.dir={tmp / 'run'}")
    proc = hypercl_train(*SMALL, *args, data_dir=mnist_dir)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert expected.format(tmp=tmp) in proc.stderr
    assert "Traceback" not in proc.stderr
    # Ours: one line. Hydra's (exit code 1): its message and the options it knows, no more.
    assert len(proc.stderr.strip().splitlines()) <= (1 if code > 1 else 40), proc.stderr
    after = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    assert after == before  # nothing already written was changed


def test_nan_loss_keeps_the_last_good_checkpoint(tmp_path, mnist_dir):
    # The lr jumps to 1e30 in the second epoch (from step 94 of task 1): the loss diverges.
    proc = hypercl_train(
        "num_threads=1", "train.iters_per_task=150", "train.checkpoint_every=50",
        "train.log_every=50", "train.lr_milestones=[1]", "train.lr_factors=[1e30]",
        f"hydra.run.dir={tmp_path}", data_dir=mnist_dir,
    )  # fmt: skip
    assert proc.returncode == 3
    step = int(re.search(r"in task 1 at step (\d+)\.", proc.stderr).group(1))
    assert 94 <= step <= 100
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["progress"]["step"] == 50  # the checkpoint before the divergence is kept
    assert all(torch.isfinite(v).all() for v in state["method"]["hnet"].values())
    assert not (tmp_path / "results.json").exists()


def test_docs_list_every_bad_input():
    readme = (REPO / "docs" / "checkpoints.md").read_text()
    for overrides, _, code in CASES:
        row = next((line for line in readme.splitlines() if f"`{overrides}`" in line), None)
        assert row is not None, f"docs/checkpoints.md's bad-input table lacks `{overrides}`"
        assert f"| {code} |" in row


def test_missing_data_fails_tests_under_ci_and_skips_them_otherwise(tmp_path, monkeypatch):
    """With CI=true a data set that is neither present nor restorable is an error, so CI
    cannot pass by skipping every data-dependent test."""
    import conftest

    monkeypatch.setattr(conftest, "RESTORE", tmp_path / "no_restore.py")
    marker = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: missing data fails"):
        conftest.restored(tmp_path, [marker], ["mnist"])
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="train-images-idx3-ubyte not found"):
        conftest.restored(tmp_path, [marker], ["mnist"])


def test_a_presets_milestone_cut_off_by_a_shorter_budget_only_warns(caplog, mnist_dir):
    """Not typed (here: no Hydra command line, as a preset's ``lr_milestones`` under a
    REDUCED budget): the run builds, and the log says the milestone has no effect."""
    from test_train_run import compose_config

    from hypercl.experiment import build

    cfg = compose_config(*SMALL, "train.lr_milestones=[1,2]", "train.lr_factors=[0.1,0.01]",
                         f"data_dir={mnist_dir}")  # fmt: skip
    with caplog.at_level("WARNING", logger="hypercl"):
        build(cfg, torch.Generator(), torch.device("cpu"))
    assert caplog.messages == [
        "train.lr_milestones=[1, 2] from the preset has no effect there: milestone 1 is never "
        "reached, the longest task trains 1 epoch(s) (3 steps of batch 128)"
    ]
