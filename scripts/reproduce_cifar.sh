#!/usr/bin/env bash
# The paper's Split-CIFAR-10/100 runs (its Figure 4): for every target network, the
# hypernetwork (split_cifar10_100_<target>), its fine-tuning baseline (*_finetune: beta 0,
# shared batch-norm statistics) and a fresh target per task (*_from_scratch), x seeds, as
# one Hydra multirun. Every job writes results.json into RUNS/<experiment>/seed<k>/;
# `python -m hypercl.report.tables RUNS --name cifar` turns them into results/cifar.md and the
# Figure-4 bar charts.
#
#   scripts/reproduce_cifar.sh device=cuda                       # full budget (needs a GPU)
#   SEEDS=1,2,3 scripts/reproduce_cifar.sh device=cuda hydra/launcher=joblib hydra.launcher.n_jobs=3
#   RUNS=results/runs/cifar TARGETS=resnet32 scripts/reproduce_cifar.sh num_threads=1 \
#     train.epochs_per_task=5 benchmark.train_subset=1600 benchmark.test_subset=1000  # CPU, REDUCED
#
# RUNS defaults to results/runs/cifar, SEEDS (comma-separated) to 1, TARGETS (comma-separated:
# resnet32, zenkenet) to both. Extra arguments are Hydra overrides for every job.
set -euo pipefail
RUNS=${RUNS:-results/runs/cifar}
SEEDS=${SEEDS:-1}
TARGETS=${TARGETS:-resnet32,zenkenet}
experiments=()
for target in ${TARGETS//,/ }; do
  base=split_cifar10_100_$target
  experiments+=("$base" "${base}_finetune" "${base}_from_scratch")
done
IFS=, && experiments="${experiments[*]}" && unset IFS
python -m hypercl.train -m experiment="$experiments" seed="$SEEDS" \
  "hydra.sweep.dir=$RUNS" 'hydra.sweep.subdir=${name}/seed${seed}' "$@"
