#!/usr/bin/env bash
# Full-budget runs for a short GPU session: one job after another, most needed first, until
# DEADLINE_S seconds have passed; a job is not started when less than its expected time is left.
# Each finished run's summary (scripts/collect_runs.sh: no checkpoint) is copied to
# $OUT/runs/<set>/<experiment>/<method>/seed<k>/ as soon as it ends, so a timeout still brings
# back every finished run. Commit them under results/runs/.
#
#   DEADLINE_S=540 OUT=/tmp/out scripts/gpu_session.sh            # on the device machine
#   DEVICE=cpu EXTRA="benchmark.num_tasks=2 train.iters_per_task=5" DEADLINE_S=99999 \
#     OUT=/tmp/out WORK=/tmp/w scripts/gpu_session.sh               # a quick check on CPU
#
# Needs the venv (pip install -e .) and the data (python ../shared/data/restore.py data).
# Expected seconds per job are from results/bench_gpu_full_runs.md (H100: perm_mnist10_cl1
# 78 s) with margin; CL2/CL3 evaluate every embedding and replay trains three models.
set -uo pipefail
OUT=${OUT:?set OUT to the folder whose files come back}
DEADLINE_S=${DEADLINE_S:-540}
WORK=${WORK:-/tmp/hypercl_gpu_runs}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}  # overrides for every job (a quick check: "benchmark.num_tasks=2 train.iters_per_task=5")
start=$(date +%s)

# expected_seconds set experiment method seed [overrides...]
JOBS=(
  "150 mnist perm_mnist10_cl1 hnet 1"
  "150 mnist perm_mnist10_cl2 hnet 1"
  "150 mnist perm_mnist10_cl3 hnet 1"
  "150 mnist perm_mnist10_cl1 hnet 2"
  "150 mnist perm_mnist10_cl2 hnet 2"
  "150 mnist perm_mnist10_cl3 hnet 2"
  "150 mnist perm_mnist10_cl1 hnet 3"
  "150 mnist perm_mnist10_cl2 hnet 3"
  "150 mnist perm_mnist10_cl3 hnet 3"
  "400 mnist perm_mnist10_cl3 hnet_tir 1 method.task_inference=tir"
  "400 mnist perm_mnist10_cl3 hnet_replay 1"
  "400 mnist perm_mnist10_cl3 dgr 1"
)

left() { echo $((DEADLINE_S - ($(date +%s) - start))); }

for job in "${JOBS[@]}"; do
  read -r expected set experiment label seed extra <<< "$job"
  if (($(left) < expected)); then
    echo "skip (only $(left) s left): $job"
    continue
  fi
  method=${label%_tir}  # hnet_tir is method hnet with method.task_inference=tir
  dir=$WORK/$set/$experiment/$label/seed$seed
  echo "=== $(date -Is) $experiment $label seed $seed"
  # shellcheck disable=SC2086  # $extra: zero or more Hydra overrides
  python -m hypercl.train experiment="$experiment" method="$method" seed="$seed" \
    device="$DEVICE" hydra.run.dir="$dir" $extra $EXTRA > "$WORK.log" 2>&1
  rc=$?
  tail -n 2 "$WORK.log"
  if [[ $rc -eq 0 && -f $dir/results.json ]]; then
    "$(dirname "$0")"/collect_runs.sh "$dir" "$OUT/runs/$set/$experiment/$label/seed$seed"
  else
    echo "failed (rc $rc): $job"
  fi
done
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/hardware.txt" 2>&1
echo "done after $(( $(date +%s) - start )) s"
