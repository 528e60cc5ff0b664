"""Sweeps at scale: submitit and joblib launchers, the SLURM preset, Optuna searches on the
validation split (continued from sqlite, failed trials recorded), W&B runs per job."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
from test_cli import hypercl_train
from wandb_records import run_info

TINY = ("num_threads=1", "train.iters_per_task=5", "train.log_every=5")


def results(job_dir: Path) -> dict:
    return json.loads((job_dir / "results.json").read_text())


# ---------------------------------------------------------------- launchers


def test_submitit_local_runs_a_two_job_sweep(tmp_path, mnist_dir):
    """Acceptance: ``-m hydra/launcher=submitit_local seed=1,2`` runs two jobs via submitit."""
    sweep = tmp_path / "sweep"
    proc = hypercl_train(
        "-m",
        "hydra/launcher=submitit_local",
        "seed=1,2",
        "train.iters_per_task=20",
        "num_threads=1",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        data_dir=mnist_dir,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in proc.stdout + proc.stderr
    assert sorted(results(sweep / d)["seed"] for d in "01") == [1, 2]
    assert all(results(sweep / d)["iters_per_task"] == 20 for d in "01")
    # each job ran in its own submitit process, with its logs under .submitit/<job id>/
    assert len(list(sweep.glob(".submitit/*/*_0_log.out"))) == 2


def test_joblib_sweep_with_wandb_one_run_per_job_grouped_by_sweep(tmp_path, mnist_dir):
    sweep = tmp_path / "my_sweep"
    proc = hypercl_train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=1,2",
        "logger=wandb",
        *TINY,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        data_dir=mnist_dir,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    runs = sorted(sweep.glob("*/wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2, list(sweep.rglob("*"))
    infos = [run_info(path) for path in runs]
    assert {info.run_group for info in infos} == {"split_mnist_cl1-my_sweep"}
    assert len({info.run_id for info in infos}) == 2
    for job, info in zip("01", infos, strict=True):
        config = {item.key: json.loads(item.value_json) for item in info.config.update}
        assert f"seed={int(job) + 1}" in config["overrides"]
        assert "logger=wandb" in config["overrides"]
        assert config["sweep"]["job_num"] == int(job)
        assert Path(config["sweep"]["dir"]) == sweep
        assert config["seed"] == int(job) + 1  # the resolved config is there too


def test_single_run_keeps_the_experiment_name_as_wandb_group(tmp_path):
    proc = hypercl_train(
        "logger=wandb", "--cfg", "job", "--resolve", "-p", "logger.group", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "split_mnist_cl1"


def test_slurm_preset_sets_partition_time_gpus_memory_cpus(tmp_path, monkeypatch):
    """The preset composes onto submitit_slurm, and submitit turns it into these #SBATCH lines."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    from hypercl.train import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    params = {
        key: OmegaConf.to_container(launcher, resolve=False)[key]
        for key in launcher
        if key not in ("_target_", "submitit_folder", "max_num_timeout", "name")
    }
    # the launcher's own mapping (hydra_submitit_launcher.submitit_launcher.launch)
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {k if k in base else f"slurm_{k}": v for k, v in params.items()}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\n")  # submitit checks that srun exists
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path / "%j")
    executor.update_parameters(name="train", **params)
    script = executor._executor._make_submission_file_text("python -m hypercl.train", "uid")
    for line in [
        "--partition=gpu",
        "--time=240",
        "--gpus-per-node=1",
        "--mem=16GB",
        "--cpus-per-task=4",
    ]:
        assert f"#SBATCH {line}" in script, script


# ---------------------------------------------------------------- failed jobs, re-runs


def hydra_files(run_dir: Path) -> dict[Path, bytes]:
    """Hydra's copies of the config and hypercl's ``config.yaml``, as bytes."""
    files = [*sorted(run_dir.glob(".hydra/*.yaml")), run_dir / "config.yaml"]
    assert len(files) == 4, files
    return {path: path.read_bytes() for path in files}


NAN_MESSAGE = "hypercl: training stopped: the classifier's loss became NaN or infinite in task 1"


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_failed_job_is_recorded_and_the_other_jobs_run_to_the_end(tmp_path, mnist_dir, launcher):
    """Job 0 stops on a NaN loss (exit 3): job 1 still runs and finishes, job 0's message is
    in its train.log, both are in sweep_summary.json, and the sweep exits with 3 at the end."""
    sweep = tmp_path / "sweep"
    parallel = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    proc = hypercl_train(
        "-m",
        *parallel,
        "train.lr=1e6,1e-3",
        *TINY,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        data_dir=mnist_dir,
    )
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    if launcher == "joblib":
        assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    assert not (sweep / "0" / "results.json").exists()
    assert results(sweep / "1")["final_acc_mean"] > 50  # the job beside it ran to the end
    log = (sweep / "0" / "train.log").read_text()
    assert f"job failed (exit code 3): {NAN_MESSAGE}" in log
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert (summary["jobs"], summary["failed"]) == (2, 1)
    failed, done = summary["job_status"]
    assert (failed["job"], failed["status"], failed["exit_code"]) == (0, "failed", 3)
    assert failed["message"].startswith(NAN_MESSAGE)
    assert failed["overrides"][0] == "train.lr=1000000.0"
    assert Path(failed["dir"]) == sweep / "0"
    assert (done["job"], done["status"], done["exit_code"], done["message"]) == (
        1,
        "completed",
        0,
        None,
    )
    assert done["overrides"][0] == "train.lr=0.001"
    lines = proc.stderr.strip().splitlines()
    assert lines[-2].startswith(
        "hypercl: sweep: job 0 (train.lr=1000000.0 num_threads=1 train.iters_per_task=5 "
        f"train.log_every=5) failed with exit code 3: {NAN_MESSAGE}"
    )
    assert lines[-1] == (
        "hypercl: sweep: 1 of 2 jobs failed, the others ran to the end; summary in "
        f"{sweep / 'sweep_summary.json'}"
    )


def test_rerun_of_a_finished_sweep_leaves_hydra_files_unchanged(tmp_path, mnist_dir):
    """A re-run with a setting that may change (num_threads) reports the jobs finished; a
    re-run with the seeds in another order is refused, job by job, with the fix for a sweep.
    Neither rewrites a byte of .hydra/*.yaml or config.yaml."""
    sweep = tmp_path / "sweep"
    command = ("-m", "train.iters_per_task=5", "train.log_every=5", f"hydra.sweep.dir={sweep}")
    first = hypercl_train(*command, "seed=1,2", "num_threads=1", cwd=tmp_path, data_dir=mnist_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    before = {**hydra_files(sweep / "0"), **hydra_files(sweep / "1")}
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert (summary["jobs"], summary["failed"]) == (2, 0)

    again = hypercl_train(*command, "seed=1,2", "num_threads=2", cwd=tmp_path, data_dir=mnist_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("hypercl: this run already finished") == 2
    assert {path: path.read_bytes() for path in before} == before
    assert not (sweep / ".hydra_kept").exists()

    reordered = hypercl_train(
        *command, "seed=2,1", "num_threads=1", cwd=tmp_path, data_dir=mnist_dir
    )
    assert reordered.returncode == 2, reordered.stderr[-3000:]
    for job, (old, new) in enumerate([(1, 2), (2, 1)]):
        assert (
            f"hypercl: run directory error: {sweep / str(job)} holds a run with another config "
            f"(seed: {old} -> {new}). Re-run the sweep with its original settings (the same "
            "values in the same order) to resume it, or choose a new hydra.sweep.dir.\n"
        ) in reordered.stderr
    assert "hydra.run.dir" not in reordered.stderr
    assert "Traceback" not in reordered.stderr
    assert {path: path.read_bytes() for path in before} == before
    assert [
        r["exit_code"] for r in json.loads((sweep / "sweep_summary.json").read_text())["job_status"]
    ] == [2, 2]
    assert not (sweep / ".hydra_kept").exists()


def test_rerun_of_a_finished_run_leaves_hydra_files_unchanged(tmp_path, mnist_dir):
    run_dir = tmp_path / "run"
    command = ("train.iters_per_task=5", "train.log_every=5", f"hydra.run.dir={run_dir}")
    first = hypercl_train(*command, "num_threads=1", cwd=tmp_path, data_dir=mnist_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    before = hydra_files(run_dir)
    again = hypercl_train(*command, "num_threads=2", cwd=tmp_path, data_dir=mnist_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "hypercl: this run already finished" in again.stdout
    assert {path: path.read_bytes() for path in before} == before


def test_a_job_stopped_by_a_signal_stops_the_sweep(monkeypatch):
    """Exit 128 + N (SIGTERM, Ctrl-C: checkpoint written) is not a failed job: it ends the
    sweep; other failures return None after recording the job."""
    from omegaconf import OmegaConf

    from hypercl.errors import ConfigError
    from hypercl.launch import sweeps

    records = []
    monkeypatch.setattr(sweeps, "basic_multirun", lambda: True)
    monkeypatch.setattr(sweeps, "record_job", lambda *record: records.append(record))
    cfg = OmegaConf.create({})

    def exits(code):
        def main(cfg):
            try:
                raise ConfigError("bad value")
            except ConfigError:
                sys.exit(code)

        return main

    with pytest.raises(SystemExit) as stopped:
        sweeps.sweep_job(exits(143))(cfg)
    assert stopped.value.code == 143
    assert sweeps.sweep_job(exits(2))(cfg) is None
    assert sweeps.sweep_job(lambda cfg: 97.0)(cfg) == 97.0
    assert records == [
        ("stopped", 143, "hypercl: config error: bad value"),
        ("failed", 2, "hypercl: config error: bad value"),
        ("completed", 0, None),
    ]


# ---------------------------------------------------------------- Optuna


def optuna_study(db: Path, name: str):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{db}")


def test_optuna_search_continues_the_same_study_from_sqlite(tmp_path, mnist_dir):
    """Acceptance: 4 trials, then the same command again: 8 trials in one sqlite study."""
    import optuna

    command = ("-m", "hparams_search=hnet_split_mnist", "hydra.sweeper.n_trials=4", *TINY)
    for invocation in (1, 2):
        proc = hypercl_train(*command, cwd=tmp_path, data_dir=mnist_dir)
        assert proc.returncode == 0, proc.stderr[-3000:]
        # the preset's default storage, relative to the launch directory
        db = tmp_path / "multirun/split_mnist_cl1/optuna/split_mnist_cl1-hnet_search.db"
        study = optuna_study(db, "split_mnist_cl1-hnet_search")
        assert len(study.trials) == 4 * invocation
    states = {trial.state for trial in study.trials}
    assert states == {optuna.trial.TrialState.COMPLETE}, study.trials
    assert set(study.best_params) == {
        "method.beta",
        "train.lr",
        "hnet.chunk_size",
        "hnet.task_emb_dim",
        "hnet.chunk_emb_dim",
    }
    # each invocation has its own sweep dir; every trial's value is its validation accuracy
    sweeps = sorted((tmp_path / "multirun/split_mnist_cl1/optuna").glob("*/"))
    assert len(sweeps) == 2, sweeps
    values = sorted(trial.value for trial in study.trials)
    jobs = sorted(sweeps[0].glob("[0-9]*")) + sorted(sweeps[1].glob("[0-9]*"))
    run_values = sorted(results(job)["val_final_acc_mean"] for job in jobs)
    assert values == pytest.approx(run_values)
    assert all(results(job)["val_final_acc_mean"] != results(job)["final_acc_mean"] for job in jobs)


def test_optuna_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path, mnist_dir):
    """Trials over batch sizes {0, 16}: 0 is impossible (a config error in the job)."""
    import optuna

    db = tmp_path / "study.db"
    sweep = tmp_path / "sweep"
    proc = hypercl_train(
        "-m",
        "hparams_search=hnet_split_mnist",
        # A seeded random sampler draws 16, 0, 16 (optuna 2.10): a failure between two
        # successes. (Not the grid sampler: hydra-optuna-sweeper 1.3.0 crashes when the
        # grid's last trial fails, in GridSampler.after_trial -> study.stop().)
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.params=null",  # the search space is the one below
        "train.batch_size=0,16",
        *TINY,
        f"hydra.sweeper.storage=sqlite:///{db}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        data_dir=mnist_dir,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna_study(db, "split_mnist_cl1-hnet_search")
    trials = study.trials
    assert len(trials) == 3
    assert 0 in [t.params["train.batch_size"] for t in trials[:-1]], "the sampler drew no 0"
    for trial in trials:
        failed = trial.params["train.batch_size"] == 0
        assert trial.state == (
            optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE
        )
    assert study.best_trial.params == {"train.batch_size": 16}
    assert "train.batch_size=0 is invalid" in proc.stderr
    for job in sorted(sweep.glob("[0-9]*")):
        if "train.batch_size=0" in (job / ".hydra/overrides.yaml").read_text().replace("'", ""):
            assert not (job / "results.json").exists()
            log = (job / "train.log").read_text()
            assert "trial failed (exit code 2), recorded as failed" in log
        else:
            assert results(job)["val_final_acc_mean"] > 0
    assert (sweep / "optimization_results.yaml").exists()


def test_optuna_sweep_without_validation_split_is_refused(tmp_path):
    proc = hypercl_train(
        "-m", "hparams_search=hnet_split_mnist", "train.val_fraction=0", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "train.val_fraction=0.0 is invalid for an optimizing sweep" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "multirun").exists()  # refused before any job or study


# ---------------------------------------------------------------- units


def test_objective_is_validation_accuracy_never_test():
    from hypercl.launch.sweeps import objective

    assert objective({"final_acc_mean": 99.0, "val_final_acc_mean": 97.5}) == 97.5
    assert objective({"final_acc_mean": 99.0}) is None


@pytest.mark.parametrize("under_optuna", [True, False])
def test_sweep_job_raises_an_exception_for_every_failure_under_an_optimizing_sweeper(
    monkeypatch, under_optuna
):
    """Under Optuna: an Exception (recorded FAIL); never SystemExit (kills the search) or NaN
    (hydra-optuna-sweeper 1.3.0 crashes on it). Elsewhere: unchanged."""
    from omegaconf import OmegaConf

    from hypercl.launch import sweeps

    monkeypatch.setattr(
        sweeps, "optimizing_sweep_overrides", lambda: "seed=1" if under_optuna else None
    )
    cfg = OmegaConf.create({"train": {"val_fraction": 0.1}})

    def crash(cfg):
        raise RuntimeError("boom")

    def config_error(cfg):
        sys.exit(2)

    job = sweeps.sweep_job
    with pytest.raises(RuntimeError, match="boom"):
        job(crash)(cfg)
    with pytest.raises(sweeps.TrialFailed if under_optuna else SystemExit):
        job(config_error)(cfg)
    assert job(lambda cfg: 97.0)(cfg) == 97.0
    if under_optuna:
        for bad in (float("nan"), None):
            with pytest.raises(sweeps.TrialFailed, match="objective"):
                job(lambda cfg, bad=bad: bad)(cfg)
        with pytest.raises(SystemExit):  # no validation split: refused, not a failed trial
            job(lambda cfg: 97.0)(OmegaConf.create({"train": {"val_fraction": 0}}))
    else:
        assert math.isnan(job(lambda cfg: float("nan"))(cfg))
        assert job(lambda cfg: None)(cfg) is None
