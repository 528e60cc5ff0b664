#!/usr/bin/env bash
# The paper's MNIST runs: benchmark x scenario x method x seeds, as Hydra multiruns. Every
# job writes results.json into RUNS/<experiment>/<method>/seed<k>/;
# `python -m hypercl.report.tables RUNS --name mnist --readme README.md` turns them into results/mnist.md, .csv, figures and README's results block.
#
#   scripts/reproduce_mnist.sh                                   # one job after another
#   METHODS=hnet,finetune,ewc,online_ewc,si,lwf,replay,joint,separate,lora scripts/reproduce_mnist.sh
#   scripts/reproduce_mnist.sh device=cuda hydra/launcher=joblib hydra.launcher.n_jobs=6
#   RUNS=results/runs/mnist_reduced SPLIT=split_mnist_cl1 PERM= SEEDS_SPLIT=1,2,3 \
#     METHODS=finetune,ewc scripts/reproduce_mnist.sh train.iters_per_task=200 num_threads=1
#
# RUNS defaults to results/runs/mnist; METHODS (comma-separated method names, default hnet),
# SEEDS_SPLIT / SEEDS_PERM, and SPLIT / PERM (comma-separated experiments; empty: skip)
# choose the grid. Extra arguments are Hydra overrides for every job.
set -euo pipefail
RUNS=${RUNS:-results/runs/mnist}
SEEDS_SPLIT=${SEEDS_SPLIT:-1,2,3,4,5}
SEEDS_PERM=${SEEDS_PERM:-1,2}
METHODS=${METHODS:-hnet}
SPLIT=${SPLIT-split_mnist_cl1,split_mnist_cl2,split_mnist_cl3}
PERM=${PERM-perm_mnist10_cl1,perm_mnist10_cl2,perm_mnist10_cl3}
layout=("hydra.sweep.dir=$RUNS" 'hydra.sweep.subdir=${name}/${hydra:runtime.choices.method}/seed${seed}')

if [[ -n "$SPLIT" ]]; then
  python -m hypercl.train -m experiment="$SPLIT" method="$METHODS" seed="$SEEDS_SPLIT" \
    "${layout[@]}" "$@"
fi
if [[ -n "$PERM" ]]; then
  python -m hypercl.train -m experiment="$PERM" method="$METHODS" seed="$SEEDS_PERM" \
    "${layout[@]}" "$@"
fi
