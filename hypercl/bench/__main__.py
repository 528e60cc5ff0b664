"""``python -m hypercl.bench``: see :mod:`hypercl.bench`."""

from hypercl.bench.cli import main

if __name__ == "__main__":
    main(prog="python -m hypercl.bench")
