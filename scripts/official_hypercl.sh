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
#   scripts/official_hypercl.sh check-resume               # patch 9's check (about 5 min)
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
#   OFFICIAL_RESUME_DIR  where a run keeps its log, its per-task state (HNET+ENT only, patch 9)
#                  and its wall time until its CSV row is written (default /tmp/official_hypercl;
#                  a long queue puts it beside its runs so that a stopped run resumes)
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
OFFICIAL_RESUME_DIR="${OFFICIAL_RESUME_DIR:-/tmp/official_hypercl}"
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
  sha256sum <"$PATCH" >"$OFFICIAL_DIR/.patch.sha256"
  link_data
  echo "official code at $OFFICIAL_DIR (commit $COMMIT, patched)"
}

# ensure_copy: set the copy up if there is none, or if it was patched with another version of
# the patch (a copy made before a patch was added would silently lack it).
ensure_copy() {
  if [ ! -d "$OFFICIAL_DIR/mnist" ] ||
    ! cmp -s "$OFFICIAL_DIR/.patch.sha256" <(sha256sum <"$PATCH"); then
    setup
  fi
  link_data
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
# HNET+ENT runs resume: the patched code saves its state after every task to
# $OFFICIAL_RESUME_DIR/<run>.resume.pt (patch 9) and continues from it when the run is started
# again; <run>.wall_s adds up the seconds of every attempt. Both are removed once the row is
# written.
run_one() {
  local scen=$1 n_iter=$2 seed=$3
  local name="${CSV_STEM}_${OFFICIAL_METHOD}_cl${scen}_n${n_iter}_s${seed}"
  local out="/tmp/official_hypercl/$name"
  local state="$OFFICIAL_RESUME_DIR/$name"
  rm -rf "$out"
  mkdir -p "$(dirname "$out")" "$OFFICIAL_RESUME_DIR"
  local resume=()
  [ "$OFFICIAL_METHOD" = ent ] && resume=(env "OFFICIAL_RESUME_FILE=$state.resume.pt")
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  (cd "$OFFICIAL_DIR/mnist" && ${resume[@]+"${resume[@]}"} "$PYTHON" "$SCRIPT" \
    ${METHOD_FLAGS[@]+"${METHOD_FLAGS[@]}"} \
    --cl_scenario "$scen" --n_iter "$n_iter" --random_seed "$seed" \
    --out_dir "$out") >>"$state.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  # the seconds of this attempt, added to those of earlier ones
  "$PYTHON" - "$state.wall_s" "$t0" "$t1" <<'EOF'
import os, sys
path, t0, t1 = sys.argv[1:]
before = float(open(path).read()) if os.path.exists(path) else 0.0
open(path, "w").write(str(before + float(t1) - float(t0)))
EOF
  if ((rc != 0)); then
    echo "official run $name failed or stopped (rc $rc); log: $state.log" >&2
    return "$rc"
  fi
  "$PYTHON" - "$out/performance_overview.txt" "$scen" "$seed" "$n_iter" "$state.wall_s" "$CSV" <<'EOF'
import csv, os, re, sys
import torch
from hypercl.environment import hardware_name
path, scen, seed, n_iter, wall_path, csv_path = sys.argv[1:]
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
    "wall_s": f"{float(open(wall_path).read()):.1f}",
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
  rm -f "$state.resume.pt" "$state.wall_s"
}

# Patch 9's check: a short Permuted-MNIST CL1 HNET run (3 tasks, 50 it/task, seed 1) without
# the resume option, with it unbroken, and stopped after task 2 then resumed, must write the
# same performance_overview.txt.
check_resume() {
  local dir=/tmp/official_hypercl/check_resume
  local args=(--infer_task_id --infer_with_entropy --cl_scenario 1 --num_tasks 3 --n_iter 50
    --random_seed 1)
  rm -rf "$dir"
  mkdir -p "$dir"
  cd "$OFFICIAL_DIR/mnist"
  "$PYTHON" train_permutedMNIST.py "${args[@]}" --out_dir "$dir/plain" >"$dir/plain.log" 2>&1
  OFFICIAL_RESUME_FILE="$dir/unbroken.pt" "$PYTHON" train_permutedMNIST.py "${args[@]}" \
    --out_dir "$dir/unbroken" >"$dir/unbroken.log" 2>&1
  OFFICIAL_RESUME_FILE="$dir/broken.pt" OFFICIAL_STOP_AFTER_TASK=1 "$PYTHON" \
    train_permutedMNIST.py "${args[@]}" --out_dir "$dir/stopped" >"$dir/stopped.log" 2>&1 || true
  OFFICIAL_RESUME_FILE="$dir/broken.pt" "$PYTHON" train_permutedMNIST.py "${args[@]}" \
    --out_dir "$dir/resumed" >"$dir/resumed.log" 2>&1
  grep -q "Resumed from .* after task 1" "$dir/resumed.log"
  for run in unbroken resumed; do
    if ! cmp -s "$dir/plain/performance_overview.txt" "$dir/$run/performance_overview.txt"; then
      echo "check-resume FAILED: $run differs from plain (see $dir)" >&2
      exit 1
    fi
  done
  echo "check-resume passed: plain, unbroken and resumed runs wrote the same" \
    "performance_overview.txt ($(md5sum <"$dir/plain/performance_overview.txt" | cut -c1-12))"
}

case "${1:-}" in
  setup) setup ;;
  check-resume)
    ensure_copy
    check_resume
    ;;
  run)
    shift
    ensure_copy
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
    sed -n 2,21p "$0"
    exit 2
    ;;
esac
