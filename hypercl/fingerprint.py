"""Code fingerprint: which code computed a result, so that stale results show.

Every ``results.json`` records ``code_fingerprint``: :func:`code_fingerprint` of the code
that ran. ``python -m hypercl.report.tables`` marks a table row ``stale (code changed since)`` when
one of its runs carries no fingerprint or one that is not *current* (the rule below).

**What is hashed.** The files whose contents can change a number in ``results.json``:

* every module of the package (``hypercl/**/*.py``) except the reporting ones listed in
  :data:`REPORTING_MODULES`. So training, models, data, evaluation, checkpoint/resume,
  config defaults and checks, the experiment loop and the CLI (``train.py``). A new
  module counts until it is added to :data:`REPORTING_MODULES`: a module missed there
  gives a needless stale mark, never a silent one.
* every preset ``conf/**/*.yaml`` except the directories in :data:`REPORTING_CONF` (launcher,
  logger and search settings: they decide where and how a run is launched or logged, not
  its numbers). A row of a table stands for what a preset gives, so a changed default makes
  it stale.

The digest is the sha256 of, for every file in sorted order of its repository-relative
path (``hypercl/methods/learner.py``, ``conf/method/hnet.yaml``), the path and the file's bytes
(line endings normalised to ``\\n``); its first 12 hex digits are the fingerprint. Any byte
counts, comments and docstrings included: simple and never wrong in the silent direction.
Package versions and hardware are not part of it; ``results.json`` records them apart.

**Which results are current.** A result is current if its fingerprint is the current
code's, or is linked to it by a chain of declared equivalences in :data:`EQUIVALENT`. An
entry ``(old, new, proof)`` declares that the code with fingerprint ``old`` and the code
with fingerprint ``new`` give the same results, and ``proof`` names the check that showed
it, run on both codes with identical output (for example: bit-identical ``acc_matrix`` of
the small reference runs of ``tests/test_resume_*.py``, CPU). Add an entry only for a change
so checked (a refactor, a comment or docstring edit, a message). A change that does alter a
number simply gets no entry: nothing links the new fingerprint to the old ones, so every
earlier result becomes stale, and the old entries can stay (they only link fingerprints
older than the change). A change that alters the numbers of some methods or benchmarks only
(their own code path) gets an entry with a fourth element, the set of those methods and
benchmarks (``results.json``'s ``method``, ``benchmark``): it links the two fingerprints for
every other run, and the proof must show that the others are unchanged. This module itself
is not hashed, so editing :data:`EQUIVALENT` does not change the fingerprint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: hypercl/ and conf/
PACKAGE = "hypercl"
CONF = "conf"

# Package-relative paths of modules that only report, check or launch and cannot change a
# number in results.json; a folder ("report/") stands for every module in it.
REPORTING_MODULES = frozenset(
    {
        "__init__.py",  # the package's docstring (each subpackage's too, see below)
        "errors.py",  # error classes and their messages
        "overrides.py",  # refuses overrides the run would not read
        "fingerprint.py",  # this module (its EQUIVALENT list must not change the fingerprint)
        "figures.py",  # the command line of report/paper_figures.py
        "methods/hnet_strategy.py",  # the hypernetwork for users' Avalanche pipelines
        "methods/hnet_strategy_module.py",  # its module and the user's model made functional
        "launch/",  # Hydra callbacks (run-directory checks) and sweep handling
        "bench/",  # speed and memory benchmarks (results/bench*.md), not results.json
        "report/",  # results files as given, W&B, tables and figures from results.json
    }
)
# Subdirectories of conf/ that choose how a run is launched or logged, or what a search tries.
REPORTING_CONF = frozenset({"hydra", "logger", "hparams_search"})

# Declared equivalences: (old fingerprint, new fingerprint, the check that proved that both
# codes give the same results[, the methods whose results the change alters]). See the
# module docstring for the rule.
Declaration = tuple[str, str, str] | tuple[str, str, str, frozenset[str]]
EQUIVALENT: tuple[Declaration, ...] = (
    (
        "ff99da6b7d57",  # f33b821
        "bca8d4ffdf80",  # + replay methods, eval_every_task, per-task cost, Perm-100 presets
        "tests/test_same_results.py (6 configurations: hnet CL1/CL2/CL3, EWC, LwF, CIFAR "
        "smoke) bit-identical to the recorded matrices at both; the new code only adds "
        "methods, presets, results fields and an evaluation schedule whose default (all) "
        "is the old loop",
    ),
    (
        "bca8d4ffdf80",  # d7291ce
        "a05e665cbc19",  # the loop as a Loop class, hypercl/task_cost.py, one NaN message
        "tests/test_same_results.py (9 configurations: the 6 above plus HNET+TIR CL3, HNET+R "
        "CL3 and DGR CL2, recorded at bca8d4ffdf80) bit-identical; resume, kill-point and "
        "eval_every_task tests pass; a split_mnist_cl1 smoke run's train.log is identical "
        "but for timestamps. Only code structure and the NaN error's wording changed",
    ),
    (
        "a05e665cbc19",  # 864774c
        "b68c51b54c85",  # one keys_to_lower for the NaN message; the VAE trainer names its keys
        "tests/test_same_results.py (9 configurations) bit-identical; test_run_messages and "
        "test_bad_input pass. Only which keys and values the NaN message names changed",
    ),
    (
        "b68c51b54c85",  # 11189ee
        "1493ecaeefb2",  # EWC's per-sample Fisher as nn.Linear outer products (linear_fisher)
        "tests/test_same_results.py (9 configurations, none on the per-sample Fisher path) "
        "bit-identical; only FisherEWCPlugin changed. EWC and online EWC change at rounding "
        "level: both Fishers equal Avalanche's per-sample loop to 1e-4 "
        "(test_fast_fishers_equal_avalanches_per_sample_loop), and split_mnist_cl1 online EWC, "
        "50 it/task, seed 1, gives the same final row to 2 decimals both ways",
        frozenset({"ewc", "online_ewc"}),
    ),
    (
        "1493ecaeefb2",  # dd3e577
        "3f34ae994bb8",  # hypercl/figures.py (a command line) counted as reporting
        "git diff dd3e577: the only hashed change is hypercl/figures.py's docstring, and that "
        "module (it only calls hypercl.report.paper_figures) leaves the hashed set; "
        "tests/test_same_results.py (10 configurations) bit-identical",
    ),
    (
        "3f34ae994bb8",  # 267e178
        "e835b84897da",  # linear_fisher and per_sample_fisher share one block loop
        "both Fishers (linear and vmap) of an EWC model after a task, split_mnist_cl1 and "
        "cl3, 299 samples of the next task, torch.equal at both codes; "
        "tests/test_same_results.py (10 configurations) bit-identical; the loop over blocks "
        "and tasks and the mean were moved into two helpers, in the same order",
    ),
    (
        "e835b84897da",  # c7ed5c2
        "4c5be4cca5c8",  # results.json and checkpoints record the hardware (CPU model)
        "tests/test_same_results.py (10 configurations) bit-identical on the Intel Xeon to "
        "tests/reference_matrices_intel_xeon.json (recorded at e835b84897da); the change adds "
        "a results field and a checkpoint key, and moves bench's host_name into environment",
    ),
    (
        "4c5be4cca5c8",  # 98afffa
        "44a56032d1ce",  # code fingerprint and hardware of a resumed run: one helper
        "tests/test_same_results.py (10 configurations) bit-identical on the Intel Xeon to "
        "tests/reference_matrices_intel_xeon.json; the change is in what a resumed run "
        "records (resumed_record), not in what it computes",
    ),
    (
        "44a56032d1ce",  # b7d2b42
        "6d3a86055b1b",  # the learners are built on the benchmark's device copy (CUDA fix)
        "tests/test_same_results.py (10 configurations) bit-identical on the Intel Xeon to "
        "tests/reference_matrices_intel_xeon.json; on the CPU the device copy holds the same "
        "tensors (Tensor.to is a no-op there), so only CUDA runs change: they failed before "
        "(CPU data indexed with CUDA batch indices)",
    ),
    (
        "6d3a86055b1b",  # 3cc7075
        "86aa3a4a2610",  # CIFAR presets as the official code: input scaling, heads, Dropout2d
        "tests/test_same_results.py: the 9 MNIST configurations bit-identical on the Intel "
        "Xeon; only CIFAR code and presets changed (benchmark.normalize, ZenkeNet's channel "
        "dropout and ignore_other_heads), so every CIFAR result of the old code is stale; "
        "cifar_smoke re-recorded",
        frozenset({"split_cifar10_100", "split_cifar10", "split_cifar100"}),
    ),
    (
        "86aa3a4a2610",  # a62ad15
        "ebc2ce110a1d",  # replay steps take their random draws as inputs (CUDA graphs);
        # the replay decoder's weights made once per phase
        "tests/test_same_results.py: all 10 configurations bit-identical on the Intel Xeon "
        "(HNET+TIR, HNET+R and DGR among them); the draws keep their order "
        "(tests/test_replay_graph_steps.py) and the weights made once equal those made at "
        "every step (tests/test_bench_replay.py). No CUDA run of a replay method exists",
    ),
    (
        "ebc2ce110a1d",  # 94e3fc6
        "6a8d4d0cdfac",  # train.py refuses overrides the run would not read (overrides.py)
        "tests/test_same_results.py: all 10 configurations bit-identical on the Intel Xeon; "
        "the change only adds a check before the run starts, which raises or does nothing",
    ),
    (
        "6a8d4d0cdfac",  # d4c16da
        "7845f7c5a373",  # seed range and batch size <= every task's training set, checked
        "tests/test_same_results.py: all 10 configurations bit-identical on the Intel Xeon; "
        "two checks before the run starts, which raise or do nothing",
    ),
    (
        "7845f7c5a373",  # c1198ce
        "11454c254815",  # SIGTERM/SIGINT stop the replay VAE and task-inference phases
        "tests/test_same_results.py: all 10 configurations bit-identical on the Intel Xeon; "
        "a check of a flag after each step of those phases, which raises or does nothing",
    ),
    (
        "11454c254815",  # 5ba180a
        "569c544d3a1c",  # a train.lr_milestones no task reaches: an error if typed, else a warning
        "tests/test_same_results.py: all 10 configurations bit-identical on the Intel Xeon; "
        "a check before the run starts, which raises, logs or does nothing",
    ),
    (
        "569c544d3a1c",  # 1084d68
        "f4c6608a89e6",  # the replay decoder's too-large chunk names replay.hnet.chunk_size
        "tests/test_same_results.py: all 10 configurations bit-identical on the Intel Xeon; "
        "only the text of an error raised before the run starts changed",
    ),
    (
        "f4c6608a89e6",  # 4b6ea0b
        "811780c3f1d1",  # value checks: benchmark.data_seed, the baselines' strengths
        "tests/test_same_results.py: all 10 configurations bit-identical on the Intel Xeon; "
        "checks before the run starts, which raise or do nothing",
    ),
    (
        "811780c3f1d1",  # f4bd440
        "0c9b7545b1f7",  # one VAE phase call for HNET+TIR and HNET+R; one loop for the seeds
        "tests/test_same_results.py: all 10 configurations bit-identical on an AMD EPYC (AVX2) "
        "to tests/reference_matrices_amd_epyc_avx2.json, recorded at 811780c3f1d1; "
        "the same calls in the same order, moved into replay/training.py",
    ),
    (
        "0c9b7545b1f7",  # d392027
        "6845e2bb98b4",  # config.py: the replay methods' target error names them, not Avalanche
        "tests/test_same_results.py: all 10 configurations bit-identical on an AMD EPYC (AVX2) "
        "to tests/reference_matrices_amd_epyc_avx2.json, recorded at 811780c3f1d1; only which "
        "validation message a bad config gets changed",
    ),
    (
        "6845e2bb98b4",  # dcf016e
        "56b2413880be",  # + method.lookahead_adam (default torch: the step as before)
        "tests/test_same_results.py: all 10 configurations bit-identical on an AMD EPYC (AVX2) "
        "to tests/reference_matrices_amd_epyc_avx2.json, recorded at 811780c3f1d1; the "
        "default formula calls the same adam_lookahead as before",
    ),
    (
        "56b2413880be",  # ed3f576
        "ea1239145f9e",  # legacy lookahead: bias corrections in Python floats (not float32)
        "tests/test_same_results.py: all 10 configurations bit-identical on an AMD EPYC (AVX2) "
        "to tests/reference_matrices_amd_epyc_avx2.json, recorded at 811780c3f1d1; only "
        "method.lookahead_adam=legacy changed, which none of them uses; a run with it made "
        "at 56b2413880be (results/runs/diag, the ablation's seed 1) is not covered",
    ),
    (
        "ea1239145f9e",  # faeecde
        "7a608c1d7fe2",  # VAETrainer.for_run: one construction for HNET+TIR, HNET+R and DGR
        "tests/test_same_results.py: all 10 configurations (HNET+TIR, HNET+R and DGR included) "
        "bit-identical on an AMD EPYC (AVX2) to tests/reference_matrices_amd_epyc_avx2.json; "
        "the trainer gets the same arguments as before",
    ),
)


def is_reporting(module: Path) -> bool:
    """Whether a package-relative module path is in :data:`REPORTING_MODULES` (a subpackage's
    ``__init__.py`` holds only its docstring)."""
    rel = module.as_posix()
    return (
        rel in REPORTING_MODULES
        or module.name == "__init__.py"
        or any(rel.startswith(d) for d in REPORTING_MODULES if d.endswith("/"))
    )


def fingerprinted_files(root: Path = ROOT) -> list[str]:
    """Repository-relative paths of the hashed files, sorted."""
    paths = [
        p
        for p in (root / PACKAGE).rglob("*.py")
        if "__pycache__" not in p.parts and not is_reporting(p.relative_to(root / PACKAGE))
    ]
    conf = root / CONF
    paths += [p for p in conf.rglob("*.yaml") if p.relative_to(conf).parts[0] not in REPORTING_CONF]
    return sorted(p.relative_to(root).as_posix() for p in paths)


def code_fingerprint(root: Path = ROOT) -> str:
    """12 hex digits of the sha256 over the hashed files' paths and contents."""
    digest = hashlib.sha256()
    for rel in fingerprinted_files(root):
        content = (root / rel).read_bytes().replace(b"\r\n", b"\n")
        digest.update(f"{rel}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:12]


def equivalent_fingerprints(
    current: str,
    declared: tuple[Declaration, ...] | None = None,
    method: str | None = None,
    benchmark: str | None = None,
) -> set[str]:
    """``current`` and every fingerprint linked to it by a chain of declared equivalences
    (``declared``, by default :data:`EQUIVALENT`; an equivalence links both ways) that hold
    for a run of ``method`` on ``benchmark`` (None for both: only the entries that hold for
    every run)."""
    links: dict[str, set[str]] = {}
    for old, new, _proof, *altered in EQUIVALENT if declared is None else declared:
        if altered and ((method is None and benchmark is None) or {method, benchmark} & altered[0]):
            continue
        links.setdefault(old, set()).add(new)
        links.setdefault(new, set()).add(old)
    found, todo = {current}, [current]
    while todo:
        for other in links.get(todo.pop(), ()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return found


def resumed_record(start: str, here: str) -> str:
    """What a resumed run records of its code fingerprint or hardware: ``start`` (the value
    its checkpoint carries, itself ``"a+b"`` if resumed before) when its last part is
    ``here``, else ``"start+here"``; a run resumed twice by the same code records it once."""
    return start if start.split("+")[-1] == here else f"{start}+{here}"


def is_current(
    fingerprint: str | None,
    current: str,
    declared: tuple[Declaration, ...] | None = None,
    method: str | None = None,
    benchmark: str | None = None,
) -> bool:
    """Whether a result of ``method`` on ``benchmark`` with ``fingerprint`` (None: written
    before fingerprints) was made by the current code or code declared equivalent to it; a
    run resumed by other code (``"start+resume"``) is current only if both codes are."""
    if fingerprint is None:
        return False
    current_set = equivalent_fingerprints(current, declared, method, benchmark)
    return all(part in current_set for part in fingerprint.split("+"))
