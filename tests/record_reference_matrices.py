"""Record the same-results matrices (tests/test_same_results.py) on this CPU, with the code
checked out now: ``python tests/record_reference_matrices.py OUT.json``.

Only for a CPU that no reference file covers yet (bit-identity holds per kind of CPU), and
only with code that an existing file certifies, so the chain of equivalences stays unbroken:
record, commit the file, then change the code. The configurations are those of the most
complete existing file; data as the test loads it (``HYPERCL_DATA_DIR``)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from avalanche_mnist import avalanche_perm_mnist, avalanche_split_mnist
from conftest import data_dir
from test_same_results import REFERENCES, cpu_model
from test_train_run import compose_config

from hypercl.data import benchmarks
from hypercl.experiment import run
from hypercl.fingerprint import code_fingerprint


def main(out: Path) -> None:
    benchmarks.split_mnist, benchmarks.perm_mnist = avalanche_split_mnist, avalanche_perm_mnist
    configs = max(REFERENCES, key=lambda r: len(r["runs"]))["runs"]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    runs = {}
    for name, recorded in sorted(configs.items()):
        cfg = compose_config(*recorded["overrides"], f"data_dir={data_dir()}")
        with tempfile.TemporaryDirectory() as tmp:
            matrix = run(cfg, Path(tmp))["acc_matrix"]
        runs[name] = {"overrides": recorded["overrides"], "acc_matrix": matrix}
        print(name, matrix[-1], flush=True)
    record = {
        "recorded_by": f"hypercl at {commit} (fingerprint {code_fingerprint()}; CPU, "
        "num_threads=1), by tests/record_reference_matrices.py",
        "recorded_on": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "runs": runs,
    }
    out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
