#!/usr/bin/env bash
# The paper's MNIST runs: benchmark x scenario x method x seeds, as Hydra multiruns. Every
# job writes results.json into RUNS/<experiment>/<method>/seed<k>/;
# `python -m hypercl.report.tables RUNS --name mnist --readme README.md` turns them into results/mnist.md, .csv, figures and README's results block.
#
#   scripts/reproduce_mnist.sh                                   # one job after another
#   METHODS=hnet,hnet_tir,hnet_replay,dgr scripts/reproduce_mnist.sh device=cuda   # Table 1
#   METHODS=hnet,finetune,ewc,online_ewc,si,lwf,replay,joint,separate,lora scripts/reproduce_mnist.sh
#   scripts/reproduce_mnist.sh device=cuda hydra/launcher=joblib hydra.launcher.n_jobs=6
#   RUNS=results/runs/mnist_reduced SPLIT=split_mnist_cl1 PERM= SEEDS_SPLIT=1,2,3 \
#     METHODS=finetune,ewc scripts/reproduce_mnist.sh train.iters_per_task=200 num_threads=1
#
# RUNS defaults to results/runs/mnist; METHODS (comma-separated method names, default hnet),
# SEEDS_SPLIT / SEEDS_PERM, and SPLIT / PERM (comma-separated experiments; empty: skip)
# choose the grid. METHODS may name hnet_tir: HNET+TIR (method=hnet
# method.task_inference=tir), run in the CL2/CL3 experiments only (in CL1 the task is given,
# so HNET+TIR is HNET+ENT), into RUNS/<experiment>/hnet_tir/. Extra arguments are Hydra
# overrides for every job.
set -euo pipefail
RUNS=${RUNS:-results/runs/mnist}
SEEDS_SPLIT=${SEEDS_SPLIT:-1,2,3,4,5}
SEEDS_PERM=${SEEDS_PERM:-1,2}
METHODS=${METHODS:-hnet}
SPLIT=${SPLIT-split_mnist_cl1,split_mnist_cl2,split_mnist_cl3}
PERM=${PERM-perm_mnist10_cl1,perm_mnist10_cl2,perm_mnist10_cl3}

methods=$(tr ',' '\n' <<<"$METHODS" | grep -vx hnet_tir | paste -sd, || true)
tir=$(tr ',' '\n' <<<"$METHODS" | grep -cx hnet_tir || true)

grid() {  # experiments seeds [overrides...]: one multirun per method kind
  local experiments=$1 seeds=$2
  shift 2
  [[ -n "$experiments" ]] || return 0
  if [[ -n "$methods" ]]; then
    python -m hypercl.train -m experiment="$experiments" method="$methods" seed="$seeds" \
      "hydra.sweep.dir=$RUNS" 'hydra.sweep.subdir=${name}/${hydra:runtime.choices.method}/seed${seed}' "$@"
  fi
  local inferred
  inferred=$(tr ',' '\n' <<<"$experiments" | grep -v '_cl1$' | paste -sd, || true)
  if [[ "$tir" -gt 0 && -n "$inferred" ]]; then
    python -m hypercl.train -m experiment="$inferred" method=hnet method.task_inference=tir \
      seed="$seeds" "hydra.sweep.dir=$RUNS" 'hydra.sweep.subdir=${name}/hnet_tir/seed${seed}' "$@"
  fi
}

grid "$SPLIT" "$SEEDS_SPLIT" "$@"
grid "$PERM" "$SEEDS_PERM" "$@"
