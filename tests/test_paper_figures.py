"""python -m hypercl.figures on synthetic results.json files: the figures are written, the
tables hold the means of the inputs, and missing runs are listed instead of failing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hypercl.figures import main
from hypercl.report.paper_figures import build, compression_ratios


def write_run(root: Path, name: str, **fields) -> dict:
    """A results.json with the fields the figures read; acc_matrix from ``final`` (the
    last row) and ``during`` (the diagonal), None elsewhere."""
    final, during = fields.pop("final"), fields.pop("during")
    n = len(final)
    acc = [[during[i] if j == i else None for j in range(n)] for i in range(n)]
    acc[-1] = list(final)
    run = {
        "benchmark": "perm_mnist",
        "scenario": "cl1",
        "task_iters": [fields.pop("iters", 500)] * n,
        "acc_matrix": acc,
        "final_acc_mean": sum(final) / n,
        "during_acc_mean": None if None in during else sum(during) / n,
        **fields,
    }
    path = root / name / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(run))
    return run


def perm100_run(root, name, method, seed, level, memory=True, **extra):
    return write_run(
        root, name, method=method, seed=seed, experiment="perm_mnist100_cl1",
        final=[level - 0.01 * j for j in range(100)], during=[level + 1.0] * 100,
        task_train_time_s=[10.0 + seed] * 100,
        task_step_time_s=[0.02 + 0.0001 * j for j in range(100)],
        task_reg_memory_bytes=[2**20 * j for j in range(100)] if memory else None, **extra,
    )  # fmt: skip


def test_perm100_and_compression_tables_hold_the_means(tmp_path):
    runs = tmp_path / "runs"
    hnet = [perm100_run(runs, f"h{s}", "hnet", s, 95.0 + s) for s in (1, 2)]
    perm100_run(runs, "si1", "si", 1, 80.0, memory=False)
    for ratio, level in ((0.05, 90.0), (0.5, 96.0)):
        for seed in (1, 2):
            write_run(
                runs, f"c{ratio}_{seed}", method="hnet", seed=seed,
                experiment="compression_perm_mnist10", compression_ratio=ratio,
                num_params_hnet=int(ratio * 2126100), iters=5000,
                final=[level + seed] * 10, during=[level + seed + 1] * 10,
            )  # fmt: skip
    write_run(runs, "ewc", method="online_ewc", seed=1, iters=5000, final=[70.0] * 10,
              during=[90.0] * 10, experiment="perm_mnist10_cl1")  # fmt: skip
    out = tmp_path / "figures"
    summary = build(runs, out, ratios=False)

    assert summary["runs"] == 8
    assert all(p.exists() and p.read_bytes()[:4] == b"\x89PNG" for p in summary["figures"])
    names = {p.name for p in summary["figures"]}
    assert {"perm_mnist100_cl1_500it_final_per_task.png", "compression_5000it.png"} <= names
    assert "perm_mnist100 cl1 500 it./task: online_ewc" in summary["missing"]

    perm = (out / "perm_mnist100" / "README.md").read_text()
    assert "500 it./task REDUCED (paper: 5000)" in perm
    assert "Missing (no runs): online_ewc." in perm
    mean = sum(r["final_acc_mean"] for r in hnet) / 2  # 96.005: seeds 1 and 2 differ by 1
    # final, during (97 and 98), training s per task (11 and 12), step ms (mean of 20.0-29.9),
    # step time of task 100 over task 2's (29.9 / 20.1), MiB at task 100
    hnet_row = (
        f"| hnet | 2 | 1 2 | {mean:.2f} ± 0.50 | 97.50 ± 0.50 | 11.50 | 24.95 | 1.49 | 99.00 |"
    )
    assert hnet_row in perm
    assert "| si | 1 | 1 | 79.50 | 81.00 | 11.00 | 24.95 | 1.49 |  |" in perm  # no regularizer
    assert "| 1 | 96.50 | 80.00 |" in perm  # per-task final table: task 1, hnet, si

    comp = (out / "compression" / "README.md").read_text()
    assert "| final − ratio 0.5000's |" in comp  # the ratio nearest 1 anchors the last column
    assert "| 0.0500 | 106,305 | 2 | 1 2 | 92.50 ± 0.50 | 91.50 ± 0.50 | -6.00 |" in comp
    assert "| 0.5000 | 1,063,050 | 2 | 1 2 | 98.50 ± 0.50 | 97.50 ± 0.50 | +0.00 |" in comp
    assert "| online EWC (reference) | | 1 | 1 | 90.00 | 70.00 | -27.50 |" in comp
    claim = "Ratios below 0.3 within 1 point of ratio 0.5000's final accuracy: "
    assert claim + "none (closest: 0.0500, -6.00)." in comp
    assert "Other β" not in comp  # no diagnostic runs


def test_runs_with_another_beta_get_their_own_table_beside_the_study(tmp_path):
    """An ablation of β (runs outside the study, e.g. results/runs/diag) is compared at
    equal β, with the study's anchor, and with the study at the same ratio."""
    runs = tmp_path / "runs"
    cells = [
        ("compression_perm_mnist10", 0.1, 0.2, 94.0),
        ("compression_perm_mnist10", 0.1, 0.9, 97.0),
        ("perm_mnist10_cl1", 0.01, 0.2, 96.5),
        ("perm_mnist10_cl1", 0.01, 0.9, 97.2),
    ]
    for experiment, beta, ratio, level in cells:
        write_run(
            runs, f"{experiment}_{beta}_{ratio}", method="hnet", seed=1, experiment=experiment,
            compression_ratio=ratio, method_hparams={"beta": beta}, iters=5000,
            num_params_hnet=int(ratio * 2126100), final=[level] * 10, during=[level] * 10,
        )  # fmt: skip
    write_run(
        runs,
        "old",
        method="hnet",
        seed=1,
        experiment="perm_mnist10_cl1",
        iters=5000,
        compression_ratio=0.9,
        final=[50.0] * 10,
        during=[50.0] * 10,
    )  # no method_hparams
    build(runs, tmp_path / "figures", ratios=False)
    comp = (tmp_path / "figures" / "compression" / "README.md").read_text()
    assert "### Other β (diagnostic runs, not in the figure; the study's β: 0.1)" in comp
    assert "| 0.01 | 0.2000 | 1 | 1 | 96.50 | 96.50 | -0.70 | -0.50 | +2.50 |" in comp
    assert "| 0.01 | 0.9000 | 1 | 1 | 97.20 | 97.20 | +0.00 | +0.20 | +0.20 |" in comp
    claim = "At β 0.01, ratios below 0.3 within 1 point of ratio 0.9000's final accuracy: "
    assert claim + "0.2000 (-0.70)." in comp
    assert "50.00" not in comp  # a run that does not record its β is left out


def test_tables_say_where_each_row_comes_from(tmp_path):
    from hypercl.fingerprint import code_fingerprint

    runs = tmp_path / "runs"
    fields = dict(git_commit="a" * 40, device="cpu", num_threads=1)
    perm100_run(runs, "h1", "hnet", 1, 95.0, code_fingerprint=code_fingerprint(), **fields)
    perm100_run(runs, "h2", "hnet", 2, 95.0, code_fingerprint="0" * 12, **fields)
    for name in ("h1", "h2"):
        seed = name[1]
        overrides = f"- experiment=perm_mnist100_cl1\n- seed={seed}\n- method.reg_subset=8\n"
        (runs / name / ".hydra").mkdir()
        (runs / name / ".hydra" / "overrides.yaml").write_text(overrides)
    build(runs, tmp_path / "figures", ratios=False)
    perm = (tmp_path / "figures" / "perm_mnist100" / "README.md").read_text()
    command = (
        "`python -m hypercl.train experiment=perm_mnist100_cl1 seed=<seed> "
        + "method.reg_subset=8`"
    )
    row = "| hnet | 2 | 1-2 | aaaaaaa | " + code_fingerprint() + " ×1, 000000000000 ×1 "
    assert (
        f"{row}| stale (code changed since): 1 of 2 runs "
        f"| cpu (model not recorded), 1 thread | {command} |" in perm
    )


def test_no_runs_at_all_lists_everything_missing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    main(["--runs", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert "0 runs read" in printed
    for part in ("perm_mnist100: no runs", "compression: no"):
        assert f"missing: {part}" in printed
    assert (tmp_path / "out" / "compression" / "README.md").exists()


def test_a_runs_directory_that_does_not_exist_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--runs", str(tmp_path / "absent"), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"error: --runs {tmp_path / 'absent'}: no such directory (the runs' results.json live "
        "there)\n"
    )
    assert not (tmp_path / "out").exists()


def test_an_output_directory_that_cannot_be_written_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("not a directory")
    with pytest.raises(SystemExit) as stop:
        main(["--runs", str(tmp_path / "empty"), "--out", str(tmp_path / "a_file" / "out")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m hypercl.figures: error: cannot write under --out ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("name,ratio", [("r005", 0.0517), ("r095", 0.9548), ("r150", 1.4684)])
def test_compression_settings_span_the_study(name, ratio):
    table = compression_ratios().set_index("compression")
    assert len(table) >= 6
    assert table["compression_ratio"].min() < 0.06 and table["compression_ratio"].max() > 1.4
    assert table.loc[name, "compression_ratio"] == pytest.approx(ratio, abs=1e-4)
    assert (table["num_params_target"] == 2126100).all()


def test_docs_ratio_table_is_the_computed_one():
    from hypercl.report.paper_figures import ratios_markdown

    docs = (Path(__file__).resolve().parent.parent / "docs" / "experiments.md").read_text()
    for line in ratios_markdown(compression_ratios())[2:]:
        assert line in docs, line
