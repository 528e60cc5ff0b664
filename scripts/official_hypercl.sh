#!/usr/bin/env bash
# Run the official HNET code (chrhenning/hypercl, commit e325678) on Split-MNIST (or
# Permuted-MNIST-10) here, on CPU with one thread, and append one CSV row per run to
# results/official/split_mnist_ent.csv (HNET+ENT, the default) or
# results/official/split_mnist_r.csv (HNET+R, OFFICIAL_METHOD=r; split_mnist_r_noreplay.csv for
# OFFICIAL_METHOD=r_noreplay); perm_mnist10_<method>.csv with OFFICIAL_BENCHMARK=perm.
#
# Usage (from the repository root, venv active):
#   scripts/official_hypercl.sh setup                      # copy + patch + data links
#   scripts/official_hypercl.sh run SCENARIO N_ITER SEED...  # e.g. run 3 500 1 2 3 (seeds already
#                                                            # in the CSV are skipped)
#
# Environment:
#   OFFICIAL_SRC   a git clone/mirror of chrhenning/hypercl (default: the fetch tool's mirror
#                  /work/.mirror/chrhenning+hypercl/repo; else `git clone
#                  https://github.com/chrhenning/hypercl`)
#   OFFICIAL_DIR   where the patched copy lives (default /work/official/hypercl)
#   MNIST_RAW      folder with the four MNIST *-ubyte.gz files (default data/MNIST/raw)
#   OFFICIAL_METHOD  ent (default): HNET+ENT (--infer_task_id --infer_with_entropy);
#                  r: HNET+R (no flag: the official code's replay-trained classifier)
#                  r_noreplay: HNET+R with --l_rew 0 (the replay term weighted 0: the
#                  classifier learns each task from its real data alone; a diagnostic)
#   OFFICIAL_BENCHMARK  split (default): train_splitMNIST.py; perm: train_permutedMNIST.py
#                  (Permuted-MNIST-10 with the official code's defaults, 5000 it/task)
#   PYTHON         the interpreter (default python; python3 on the device machine)
#   OFFICIAL_CSV_DIR  where the CSV goes (default results/official; a long queue writes it
#                  beside its runs and the rows are copied into results/official/ to commit)
#   OFFICIAL_BATCHED_ENT  1 (default): the patched, batched tests (ENT in CL2/CL3: same
#                  per-sample entropies, one batch per task; CL1: --test_batch_size batches,
#                  the task being given; see PATCHES.md); 0: the original batch-size-1 loop
#                  (about 5 min of CPU per Split-MNIST run's tests; on Permuted-MNIST-10 CL1
#                  about 30 min a task, and its memory grew to 22.4 GB in the first test).
#
# Patches (scripts/official_hypercl.patch, described in $OFFICIAL_DIR/PATCHES.md) only make
# the 2019 code run with torch 2.x / numpy 2.x / matplotlib 3.x without tensorboardX or
# LaTeX, let --n_iter take effect, and add the opt-in batched ENT test.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COMMIT=e325678
OFFICIAL_SRC="${OFFICIAL_SRC:-/work/.mirror/chrhenning+hypercl/repo}"
OFFICIAL_DIR="${OFFICIAL_DIR:-/work/official/hypercl}"
MNIST_RAW="${MNIST_RAW:-$REPO_ROOT/data/MNIST/raw}"
PATCH="$REPO_ROOT/scripts/official_hypercl.patch"
OFFICIAL_METHOD="${OFFICIAL_METHOD:-ent}"
PYTHON="${PYTHON:-python}"
case "$OFFICIAL_METHOD" in
  ent) METHOD_FLAGS=(--infer_task_id --infer_with_entropy) ;;
  r) METHOD_FLAGS=() ;;
  r_noreplay) METHOD_FLAGS=(--l_rew 0) ;;
  *)
    echo "OFFICIAL_METHOD=$OFFICIAL_METHOD is not a method here: use ent, r or r_noreplay" >&2
    exit 2
    ;;
esac
OFFICIAL_BENCHMARK="${OFFICIAL_BENCHMARK:-split}"
case "$OFFICIAL_BENCHMARK" in
  split) SCRIPT=train_splitMNIST.py CSV_STEM=split_mnist ;;
  perm) SCRIPT=train_permutedMNIST.py CSV_STEM=perm_mnist10 ;;
  *)
    echo "OFFICIAL_BENCHMARK=$OFFICIAL_BENCHMARK is not a benchmark here: use split or perm" >&2
    exit 2
    ;;
esac
CSV="${OFFICIAL_CSV_DIR:-$REPO_ROOT/results/official}/${CSV_STEM}_${OFFICIAL_METHOD}.csv"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export OFFICIAL_BATCHED_ENT="${OFFICIAL_BATCHED_ENT:-1}" OFFICIAL_METHOD

setup() {
  if [ ! -d "$OFFICIAL_SRC" ]; then
    echo "no official source at $OFFICIAL_SRC: set OFFICIAL_SRC to a clone of" \
      "https://github.com/chrhenning/hypercl" >&2
    exit 1
  fi
  rm -rf "$OFFICIAL_DIR"
  mkdir -p "$OFFICIAL_DIR"
  git -C "$OFFICIAL_SRC" archive "$COMMIT" | tar -x -C "$OFFICIAL_DIR"
  (cd "$OFFICIAL_DIR" && git apply "$PATCH")
  link_data
  echo "official code at $OFFICIAL_DIR (commit $COMMIT, patched)"
}

# The code reads ../datasets/MNIST/*.gz from mnist/: links to MNIST_RAW, made again before
# every run (a copy moved to another machine, as scripts/device/bundle.sh does, keeps working).
link_data() {
  mkdir -p "$OFFICIAL_DIR/datasets/MNIST"
  for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
    t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    ln -sfn "$MNIST_RAW/$f" "$OFFICIAL_DIR/datasets/MNIST/$f"
  done
}

# One run: scenario (1|2|3; CL1: task given, no inference), n_iter, seed -> a CSV row.
run_one() {
  local scen=$1 n_iter=$2 seed=$3
  local out="/tmp/official_hypercl/${CSV_STEM}_${OFFICIAL_METHOD}_cl${scen}_n${n_iter}_s${seed}"
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$OFFICIAL_DIR/mnist" && "$PYTHON" "$SCRIPT" ${METHOD_FLAGS[@]+"${METHOD_FLAGS[@]}"} \
    --cl_scenario "$scen" --n_iter "$n_iter" --random_seed "$seed" \
    --out_dir "$out") >"$out.log" 2>&1
  t1=$(date +%s.%N)
  "$PYTHON" - "$out/performance_overview.txt" "$scen" "$seed" "$n_iter" "$t0" "$t1" "$CSV" <<'EOF'
import csv, os, re, sys
import torch
from hypercl.environment import hardware_name
path, scen, seed, n_iter, t0, t1, csv_path = sys.argv[1:]
kv = {}
for line in open(path):
    key, _, val = line.strip().partition(" ")
    kv[key] = val
nums = lambda s: [float(x) for x in re.findall(r"[-+]?\d+\.\d+|\d+", s)]
accs = nums(kv["acc_after_list"])
# HNET+R infers no task and runs no ENT test: those fields are left empty.
infers = os.environ["OFFICIAL_METHOD"] == "ent"
ti = nums(kv["overall_task_infer_accuracy_list"]) if infers else []
row = {
    "scenario": f"cl{scen}", "seed": seed, "n_iter": n_iter,
    "acc_final_mean": f"{sum(accs) / len(accs):.4f}",
    "acc_final_per_task": " ".join(f"{a:.4f}" for a in accs),
    "task_infer_acc_mean": f"{sum(ti) / len(ti):.4f}" if ti else "",
    "task_infer_acc_per_task": " ".join(f"{a:.4f}" for a in ti),
    "wall_s": f"{float(t1) - float(t0):.1f}",
    "torch": torch.__version__,
    # the official code trains on a GPU whenever torch sees one (it has --no_cuda)
    "hardware": f"{hardware_name(torch.device('cuda' if torch.cuda.is_available() else 'cpu'))}, 1 thread",
    "batched_ent_test": os.environ.get("OFFICIAL_BATCHED_ENT", "0") if infers else "",
}
new = not os.path.exists(csv_path)
os.makedirs(os.path.dirname(csv_path), exist_ok=True)
with open(csv_path, "a", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(row))
    if new:
        w.writeheader()
    w.writerow(row)
print(row)
EOF
}

case "${1:-}" in
  setup) setup ;;
  run)
    shift
    [ -d "$OFFICIAL_DIR/mnist" ] || setup  # a fresh machine: set the copy up first
    link_data
    scen=$1 n_iter=$2
    shift 2
    for seed in "$@"; do
      # A seed already in the CSV is not run again (so a re-run after an interruption
      # resumes where it stopped, without duplicate rows).
      if [ -f "$CSV" ] && grep -q "^cl${scen},${seed},${n_iter}," "$CSV"; then
        echo "cl${scen} seed ${seed}, ${n_iter} it/task: already in $CSV, skipped"
        continue
      fi
      run_one "$scen" "$n_iter" "$seed"
    done
    ;;
  *)
    sed -n 2,20p "$0"
    exit 2
    ;;
esac
