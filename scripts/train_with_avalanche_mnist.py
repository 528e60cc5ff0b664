"""``python -m hypercl.train`` with MNIST loaded through Avalanche's streams, as hypercl did
before commit 7526f09 (tests/avalanche_mnist.py: the same tensors, but Avalanche draws from
the global random state, so a seed's initialisation is the one runs of that code got).

    python scripts/train_with_avalanche_mnist.py -m experiment=split_mnist_cl3 seed=1,2,3 ...

Used to tell a code change from seed luck: on the same seed, today's code with this loading
must reproduce an old run's accuracy matrix if the code computes the same thing
(tests/test_same_results.py checks that at 50 iterations per task).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # this checkout's hypercl, not an installed one
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from avalanche_mnist import avalanche_perm_mnist, avalanche_split_mnist  # noqa: E402

from hypercl.data import benchmarks  # noqa: E402
from hypercl.train import main  # noqa: E402

benchmarks.split_mnist = avalanche_split_mnist
benchmarks.perm_mnist = avalanche_perm_mnist

if __name__ == "__main__":
    main()
