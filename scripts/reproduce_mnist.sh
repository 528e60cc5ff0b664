#!/usr/bin/env bash
# The paper's MNIST runs at full budget: benchmark x scenario x method x seeds, as Hydra
# multiruns. Every job writes results.json into RUNS/<experiment>/<method>/seed<k>/;
# `python -m hypercl.tables RUNS` turns them into results/mnist.md.
#
#   scripts/reproduce_mnist.sh                                   # one job after another
#   scripts/reproduce_mnist.sh device=cuda hydra/launcher=joblib hydra.launcher.n_jobs=6
#
# RUNS defaults to results/runs/mnist; SEEDS_SPLIT / SEEDS_PERM / METHODS choose the grid.
set -euo pipefail
RUNS=${RUNS:-results/runs/mnist}
SEEDS_SPLIT=${SEEDS_SPLIT:-1,2,3,4,5}
SEEDS_PERM=${SEEDS_PERM:-1,2}
METHODS=${METHODS:-hnet}
layout=("hydra.sweep.dir=$RUNS" 'hydra.sweep.subdir=${name}/${hydra:runtime.choices.method}/seed${seed}')

python -m hypercl.train -m experiment=split_mnist_cl1,split_mnist_cl2,split_mnist_cl3 \
  method="$METHODS" seed="$SEEDS_SPLIT" "${layout[@]}" "$@"
python -m hypercl.train -m experiment=perm_mnist10_cl1,perm_mnist10_cl2,perm_mnist10_cl3 \
  method="$METHODS" seed="$SEEDS_PERM" "${layout[@]}" "$@"
