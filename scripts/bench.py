"""Speed and memory benchmark of hypercl: ``python scripts/bench.py --help``.

The code lives in :mod:`hypercl.bench` (also ``python -m hypercl.bench``).
"""

from hypercl.bench.cli import main

if __name__ == "__main__":
    main()
