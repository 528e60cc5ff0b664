"""python -m hypercl.report.tables: the table and figures are a pure function of results.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hypercl import fingerprint
from hypercl.fingerprint import code_fingerprint
from hypercl.report.paper import FULL_BUDGET, cell
from hypercl.report.readme import BEGIN, END
from hypercl.report.runs import STALE
from hypercl.report.tables import build

REPO = Path(__file__).resolve().parent.parent


def _results(method, scenario, seed, final, iters, stored=1000):
    # 5 tasks (Split-MNIST): during = final + 1 on every task, final row = final on average
    acc = [
        [final + 1 if j == i else final - 1 if j < i else None for j in range(5)] for i in range(5)
    ]
    acc[-1] = [final - 0.25, final - 0.25, final - 0.25, final - 0.25, final + 1]
    return {
        "benchmark": "split_mnist",
        "scenario": scenario,
        "method": method,
        "seed": seed,
        "iters_per_task": iters,
        "task_iters": [iters] * 5,
        "acc_matrix": acc,
        "final_acc_mean": final,
        "during_acc_mean": final + 1,
        "params_stored_total": stored,
        "params_stored_per_task": 10,
        "wall_time_s": 12.0 + seed,
        "device": "cpu",
        "code_fingerprint": code_fingerprint(),
    }


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    """Run summaries in the layout <runs>/<experiment>/<method>/seed<k>/results.json."""
    runs = tmp_path / "runs"
    cells = [
        ("hnet", "cl1", [99.0, 99.2, 99.4], 2000),
        ("ewc", "cl1", [90.0, 92.0], 200),
        ("finetune", "cl2", [59.0], 2000),
    ]
    for method, scenario, finals, iters in cells:
        for seed, final in enumerate(finals, start=1):
            d = runs / f"split_mnist_{scenario}" / method / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "results.json").write_text(
                json.dumps(_results(method, scenario, seed, final, iters))
            )
    return runs


def test_rebuilding_after_deleting_gives_the_same_output(runs_dir, tmp_path):
    out = tmp_path / "results"
    paths = build(runs_dir, out, "mnist")
    first = {p: p.read_bytes() for p in [paths["markdown"], paths["csv"], *paths["figures"]]}
    for p in first:
        p.unlink()
    build(runs_dir, out, "mnist")
    assert {p: p.read_bytes() for p in first} == first
    assert len(paths["figures"]) == 6  # 3 figures for each of 2 (benchmark, scenario) cells


def test_table_content(runs_dir, tmp_path):
    paths = build(runs_dir, tmp_path / "results", "mnist")
    table = pd.read_csv(paths["csv"])
    assert list(table["method"]) == ["hnet", "ewc", "finetune"]
    hnet = table.iloc[0]
    assert hnet["n"] == 3 and hnet["final_acc_mean"] == pytest.approx(99.2)
    assert hnet["final_acc_sem"] == pytest.approx(0.2 / 3**0.5, abs=1e-4)
    # 99.2 vs 99.79 +- 0.01: far beyond 2 SEM -> a generated note
    assert hnet["note"].startswith("below paper by 0.59 (")
    ewc = table.iloc[1]
    assert bool(ewc["reduced"]) and f"200 of {FULL_BUDGET['split_mnist']}" in ewc["note"]
    md = paths["markdown"].read_text()
    assert "| CL1 | hnet |  | 3 | 2000 | 99.20 ± 0.12 | 99.79 ± 0.01 |" in md
    assert "| CL1 | ewc |  | 2 | 200 REDUCED | 91.00 ± 1.00 | 98.64 |" in md
    assert f"| {STALE}" not in md  # every run carries the current code's fingerprint
    assert "n=1, no SEM: below paper by 0.21" in md  # finetune CL2 vs 59.21


def test_one_adam_variant_gets_its_own_row_beside_the_paper(runs_dir, tmp_path):
    d = runs_dir / "split_mnist_cl2" / "finetune_one_adam" / "seed1"
    d.mkdir(parents=True)
    run = _results("finetune", "cl2", 1, 58.0, 2000)
    run["method_hparams"] = {"reset_optimizer": False}
    (d / "results.json").write_text(json.dumps(run))
    table = pd.read_csv(build(runs_dir, tmp_path / "results", "mnist")["csv"])
    assert list(table["method"]) == ["hnet", "ewc", "finetune", "finetune, one Adam"]
    assert list(table["paper_final_acc"])[2:] == [59.21, 59.21]
    assert list(table["final_acc_mean"])[2:] == [59.0, 58.0]


def test_explanations_follow_the_generated_note(runs_dir, tmp_path):
    out = tmp_path / "results"
    paths = build(runs_dir, out, "mnist")
    assert paths["unexplained"] == ["split_mnist cl1 hnet (2000 it.)"]
    row = pd.read_csv(paths["csv"]).iloc[0]
    assert row["note"].endswith("SEM); unexplained")
    (out / "mnist_explanations.csv").write_text(
        "benchmark,num_tasks,scenario,method,iters_per_task,explanation,written_for\n"
        f'split_mnist,5,cl1,hnet,2000,"made-up reason, for the test","{cell(row.to_dict())}"\n'
        "split_mnist,5,cl1,hnet,200,not this budget,\n"
    )
    paths = build(runs_dir, out, "mnist")
    assert paths["unexplained"] == []
    notes = pd.read_csv(paths["csv"])["note"]
    assert notes[0].startswith("below paper by 0.59 (") and notes[0].endswith(
        "SEM); made-up reason, for the test"
    )
    assert "not this budget" not in paths["markdown"].read_text()


def test_an_explanation_written_for_other_runs_is_flagged(runs_dir, tmp_path):
    """An explanation stamped with the row's result as it stands is shown as written; once
    the row changes (a stamp of other runs, or none), it is flagged for a re-check."""
    out = tmp_path / "results"
    row = pd.read_csv(build(runs_dir, out, "mnist")["csv"]).iloc[0].to_dict()
    now = cell(row)
    header = "benchmark,num_tasks,scenario,method,iters_per_task,explanation,written_for\n"
    for stamp, flag in [
        (now, None),
        ("97.39 ± 0.03, n 2", "97.39 ± 0.03, n 2"),
        ("", "runs not recorded"),
    ]:
        (out / "mnist_explanations.csv").write_text(
            header + f'split_mnist,5,cl1,hnet,2000,the reason,"{stamp}"\n'
        )
        paths = build(runs_dir, out, "mnist")
        note = pd.read_csv(paths["csv"])["note"][0]
        if flag is None:
            assert note.endswith("SEM); the reason") and paths["recheck"] == []
        else:
            assert note.endswith(
                f"SEM); [RE-CHECK: written for {flag}; the row is now {now}] the reason"
            )
            assert paths["recheck"] == ["split_mnist cl1 hnet (2000 it.)"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty; give it a header line"),
        (
            "benchmark,scenario,method,explanation\n",
            "lacks the column(s) iters_per_task, num_tasks",
        ),
    ],
)
def test_bad_explanations_file_is_one_clear_message(runs_dir, tmp_path, content, message):
    path = tmp_path / "explanations.csv"
    path.write_text(content)
    with pytest.raises(
        SystemExit, match="^" + re.escape(f"hypercl.report.tables: {path} {message}")
    ):
        build(runs_dir, tmp_path / "results", "mnist", explanations_csv=path)


def _cifar_results(experiment, method, seed, beta, epochs, subset, accs):
    """A 3-task Split-CIFAR run: task j's accuracy after task i is accs[i][j]."""
    return {
        "experiment": experiment,
        "benchmark": "split_cifar10_100",
        "scenario": "cl1",
        "method": method,
        "target": "zenkenet",
        "seed": seed,
        "epochs_per_task": epochs,
        "train_subset": subset,
        "task_iters": [40, 4, 4],
        "acc_matrix": accs,
        "final_acc_mean": sum(accs[-1]) / 3,
        "during_acc_mean": sum(accs[i][i] for i in range(3)) / 3,
        "method_hparams": {"beta": beta} if method == "hnet" else None,
        "wall_time_s": 100.0,
        "device": "cpu",
        "code_fingerprint": code_fingerprint(),
    }


def test_cifar_table_and_figure(tmp_path):
    runs = tmp_path / "runs"
    hnet = [[[50, None, None], [49, 60, None], [48 + s, 59, 70]] for s in (0, 2)]
    tune = [[50, None, None], [20, 60, None], [10, 15, 70]]
    cells = [
        ("zenkenet", "hnet", 1, 0.01, hnet[0]),
        ("zenkenet", "hnet", 2, 0.01, hnet[1]),
        ("zenkenet_finetune", "hnet", 1, 0.0, tune),
        ("zenkenet_from_scratch", "from_scratch", 1, 0.0, tune),
    ]
    for name, method, seed, beta, accs in cells:
        d = runs / name / method / f"seed{seed}"
        d.mkdir(parents=True)
        results = _cifar_results(name, method, seed, beta, 80, 2000, accs)
        if method == "from_scratch":
            del results["code_fingerprint"]  # written before fingerprints: stale
        (d / "results.json").write_text(json.dumps(results))
    paths = build(runs, tmp_path / "out", "cifar")
    table = pd.read_csv(paths["cifar_csv"])
    assert paths["cifar_csv"].name == "cifar.csv"
    assert list(table["method"]) == ["hnet", "finetune", "from_scratch"]
    assert list(table["n"]) == [2, 1, 1] and table["seeds"][0] == "1 2"
    assert table["final_t1"][0] == pytest.approx(49) and table["during_t3"][0] == 70
    # per-seed means over tasks 59 and 59 2/3: mean 59 1/3, SEM = |difference| / 2 = 1/3
    assert table["final_acc_mean"][0] == pytest.approx(59 + 1 / 3, abs=1e-4)
    assert table["final_acc_sem"][0] == pytest.approx(1 / 3, abs=1e-4)
    md = paths["markdown"].read_text()
    assert "## Split-CIFAR-10/100 (3 tasks), ZenkeNet" in md
    assert (
        "| finetune |  | 1 | 1 | 80 ep. x 2000 img. REDUCED | 31.67 | 60.00 | 10.00 | 15.00 |" in md
    )
    assert f"| from_scratch | {STALE} | 1 | 1 | 80 ep. x 2000 img. REDUCED |" in md
    assert (
        "The paper's claims at budget 80 ep. x 2000 img. REDUCED: (1) hnet's final accuracy is "
        "at least from_scratch's on each of tasks 2-3: **held** (2 of 2; hnet minus "
        "from_scratch: T2 +44.00, T3 +0.00); (2) hnet's final accuracy on task 1 is above "
        "finetune's: **held** (49.00 vs 10.00). Rows made by older code (stale: from_scratch): "
        "not evidence for the current code.\n" in md
    )
    assert (  # hnet: during 50, 60 and final 49, 59 (seed means); finetune: 50, 60 and 10, 15
        "Forgetting at budget 80 ep. x 2000 img. REDUCED (during minus final accuracy, mean "
        "over tasks 1-2): hnet 1.00, finetune 42.50, from_scratch 42.50 (stale). The paper's "
        "values are not retrieved, so this is not checked against them.\n" in md
    )
    assert list(table["code"].fillna("")) == ["", "", STALE]
    assert paths["stale"] == [
        f"split_cifar10_100 zenkenet from_scratch (80 ep. x 2000 img. REDUCED): {STALE}"
    ]
    assert [p.name for p in paths["figures"]] == ["split_cifar10_100_zenkenet_per_task.png"]


@pytest.mark.parametrize("name", ["mnist", "mnist_reduced", "cifar"])
def test_committed_tables_are_regenerated_exactly(tmp_path, name):
    """results/<name>.md and .csv are what the documented command makes of the committed
    run summaries in results/runs/<name>, judged against the current code: once a committed
    run carries a fingerprint, a code change that makes it stale fails here until the table
    is regenerated and shows the stale mark."""
    runs = REPO / "results" / "runs" / name
    if not (REPO / "results" / f"{name}.md").exists() or not runs.exists():
        pytest.skip(f"no committed {name} table")
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "hypercl.report.tables", f"results/runs/{name}", "--out", str(out)]
    cmd += ["--explanations", f"results/{name}_explanations.csv"]  # the default beside the table
    subprocess.run([*cmd, "--name", name], cwd=REPO, check=True, capture_output=True)
    for suffix in (".md", ".csv", "_provenance.csv"):
        if not (REPO / "results" / f"{name}{suffix}").exists():
            continue
        expected = (REPO / "results" / f"{name}{suffix}").read_text()
        assert (out / f"{name}{suffix}").read_text() == expected, name + suffix


def _readme_block(text: str) -> str:
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def test_readme_block_is_the_hypernetwork_columns_beside_the_paper(runs_dir, tmp_path):
    """The Table 1 view's hypernetwork columns and DGR+distill; the baselines (ewc,
    finetune) stay out; CL1 HNET+TIR repeats HNET+ENT's cell."""
    readme = tmp_path / "README.md"
    readme.write_text(f"# intro\n\n{BEGIN}\n| old | table |\n{END}\n\nthe sentence below\n")
    paths = build(runs_dir, tmp_path / "results", "mnist", readme=readme)
    assert paths["readme"] == readme
    ours = "**99.20 ± 0.12** (n 3, 2000 it., cpu"
    assert readme.read_text() == (
        f"# intro\n\n{BEGIN}\n### Split-MNIST (5 tasks)\n\n"
        "| scenario | HNET+ENT | HNET+TIR | HNET+R | DGR+distill |\n|---|---|---|---|---|\n"
        f"| CL1 | {ours})<br>paper 99.79 ± 0.01 [R] "
        f"| {ours}, same model as HNET+ENT)<br>paper 99.79 ± 0.01 [R] "
        "| not run<br>paper 99.83 ± 0.01 [R] | not run<br>paper 99.61 [R] |\n"
        "| CL2 | not run<br>paper 87.01 ± 0.47 [R] | not run<br>paper 94.43 ± 0.28 [R] "
        "| not run<br>paper 98.00 ± 0.03 [R] | not run<br>paper 96.83 [R] |\n"
        f"{END}\n\nthe sentence below\n"
    )


@pytest.mark.parametrize(
    "text", ["no markers\n", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n"]
)
def test_readme_without_one_marked_block_is_one_clear_message(runs_dir, tmp_path, text):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    with pytest.raises(SystemExit, match=re.escape(f"{readme} needs one line {BEGIN}")):
        build(runs_dir, tmp_path / "results", "mnist", readme=readme)
    assert readme.read_text() == text


def test_committed_readme_table_is_regenerated_exactly(tmp_path):
    """README.md's results block is what the command named under it makes of the committed
    MNIST runs (on a copy of the README: the committed file is left alone)."""
    readme = REPO / "README.md"
    if not readme.exists() or not (REPO / "results" / "runs" / "mnist").exists():
        pytest.skip("no README or committed mnist runs")
    committed = readme.read_text()
    command = "python -m hypercl.report.tables results/runs/mnist --name mnist --readme README.md"
    assert f"`{command}`" in committed.replace("\n", " ")  # the sentence under the table
    copy = tmp_path / "README.md"
    copy.write_text(committed)
    cmd = [sys.executable, *command.split()[1:-1], str(copy), "--out", str(tmp_path / "results")]
    cmd += ["--explanations", "results/mnist_explanations.csv"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    assert _readme_block(copy.read_text()) == _readme_block(committed)


def test_report_modules_import_one_way():
    """Each module of hypercl/report imports only the table modules listed before it."""
    order = "runs paper rows markdown provenance table1 figures readme tables".split()
    for i, module in enumerate(order):
        source = (REPO / "hypercl" / "report" / f"{module}.py").read_text()
        imported = set(re.findall(r"^from hypercl\.report\.(\w+) import", source, re.M))
        assert imported <= set(order[:i]), (module, imported - set(order[:i]))


def test_table1_view_puts_methods_in_columns_beside_the_paper(tmp_path):
    """One row per scenario, the paper's hypernetwork columns always there, our cell above
    the paper's tagged value, CL1's TIR cell repeating ENT's, and the generated lead."""
    runs, current = tmp_path / "runs", "c0ffee000000"
    for seed, final in [(1, 99.70), (2, 99.80)]:
        _write_run(runs, "hnet", seed, final, current)
    md = build(runs, tmp_path / "out", "t", current_fingerprint=current)["markdown"].read_text()
    assert "| scenario | HNET+ENT | HNET+TIR | HNET+R | DGR+distill |" in md
    assert "| CL1 | **99.75 ± 0.05** (n 2, 2000 it., cpu)<br>paper 99.79 ± 0.01 [R] |" in md
    assert "(n 2, 2000 it., cpu, same model as HNET+ENT)<br>paper 99.79 ± 0.01 [R]" in md
    assert "| not run<br>paper 99.83 ± 0.01 [R] |" in md  # HNET+R, CL1
    lead = (
        "- Split-MNIST CL1 HNET+ENT: **matches** the paper (99.75 ± 0.05, n 2; paper 99.79 ± 0.01)"
    )
    assert lead in md


def _write_run(runs: Path, method: str, seed: int, final: float, fingerprint_value) -> None:
    d = runs / "split_mnist_cl1" / method / f"seed{seed}"
    d.mkdir(parents=True)
    run = _results(method, "cl1", seed, final, 2000)
    if fingerprint_value is None:
        del run["code_fingerprint"]  # a results.json written before fingerprints
    else:
        run["code_fingerprint"] = fingerprint_value
    (d / "results.json").write_text(json.dumps(run))


def test_rows_from_other_code_are_marked_stale(tmp_path, monkeypatch):
    """A row is marked unless all its runs carry the current fingerprint or one declared
    equivalent to it; a run without a fingerprint is stale."""
    runs, current = tmp_path / "runs", "c0ffee000000"
    cells = {
        "hnet": [current, current],  # current code
        "finetune": ["01d000000000", "01d000000000"],  # other code
        "ewc": [None],  # before fingerprints
        "si": ["e9e9e9000000"],  # declared equivalent to the current code, through a chain
        "lwf": [current, None, "0ther0000000"],  # partly stale
    }
    for method, fingerprints in cells.items():
        for seed, value in enumerate(fingerprints, start=1):
            _write_run(runs, method, seed, 99.0, value)
    monkeypatch.setattr(
        fingerprint,
        "EQUIVALENT",
        (
            ("e9e9e9000000", "abcdef000000", "test: declared"),
            ("abcdef000000", current, "test: declared"),
        ),
    )
    paths = build(runs, tmp_path / "out", "mnist", current_fingerprint=current)
    table = pd.read_csv(paths["csv"]).set_index("method")
    code = table["code"].fillna("")
    assert code["hnet"] == "" and code["si"] == ""
    assert code["finetune"] == STALE and code["ewc"] == STALE
    assert code["lwf"] == f"{STALE}: 2 of 3 runs"
    assert list(table.loc[["hnet", "finetune", "lwf"], "stale_runs"]) == [0, 2, 2]
    md = paths["markdown"].read_text()
    assert f"| CL1 | finetune | {STALE} | 2 | 2000 | 99.00 ± 0.00 | 87.19 |" in md
    assert "| CL1 | hnet |  | 2 | 2000 |" in md
    assert paths["fingerprint"] == current and paths["rows"] == 5
    assert len(paths["stale"]) == 3
    # the same runs judged by other code: every row is stale
    other = build(runs, tmp_path / "out2", "mnist", current_fingerprint="123456789abc")
    assert len(other["stale"]) == 5


def test_committed_hypernetwork_rows_are_stale_exactly_when_their_runs_are():
    """In results/mnist.csv a hypernetwork row is stale iff one of its runs' results.json
    carries no fingerprint (the runs of commit e6e92d4, before the regularizer and lookahead
    rewrites) or one not equivalent to the current code's; the Split-MNIST CL1 runs (commit
    f33b821, declared equivalent) are current."""
    path = REPO / "results" / "mnist.csv"
    if not path.exists():
        pytest.skip("no committed mnist table")
    table = pd.read_csv(path, keep_default_na=False)
    current = fingerprint.equivalent_fingerprints(code_fingerprint(), method="hnet")
    runs_dir = REPO / "results" / "runs" / "mnist"
    rows = table[table["method"] == "hnet"]
    assert len(rows) == 6
    for r in rows.itertuples():
        name = {"split_mnist": "split_mnist", "perm_mnist": "perm_mnist10"}[r.benchmark]
        runs = [
            json.loads(f.read_text())
            for f in (runs_dir / f"{name}_{r.scenario}" / "hnet").glob("seed*/results.json")
        ]
        assert len(runs) == r.n
        stale = any(run.get("code_fingerprint") not in current for run in runs)
        assert (r.code != "") == stale, (r.benchmark, r.scenario, r.code)
    cl1 = rows[(rows["benchmark"] == "split_mnist") & (rows["scenario"] == "cl1")]
    assert cl1["code"].iloc[0] == ""


@pytest.mark.parametrize("which", ["absent", "empty"])
def test_a_runs_directory_without_results_is_an_error(which, tmp_path, capsys):
    from hypercl.report.tables import main

    runs = tmp_path / which
    if which == "empty":
        runs.mkdir()
    with pytest.raises(SystemExit) as stop:
        main([str(runs), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: no results.json under {runs}\n")
    assert not (tmp_path / "out").exists()
