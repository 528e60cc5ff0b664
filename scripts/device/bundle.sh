#!/usr/bin/env bash
# Packs what full-budget runs on a lent device machine (scripts/gpu_session.sh) need and that
# machine cannot fetch. It has python3 with torch, numpy, pandas and matplotlib, but no
# hydra-core, avalanche-lib or pytest and no internet; the device tool sends at most 64 MiB
# per call, of which about 43 MB are left for carried files beside this checkout. So: one boot
# archive (the missing pure-Python packages from this venv, a stand-in for wandb, MNIST, the
# data restore script and the patched official code) and the packed CIFAR split in parts,
# one folder per call, each carried alone:
#   .gpucall/  boot.tgz, part p1    -> bash scripts/device/first.sh [DEADLINE_S PARALLEL ONLY]
#   .gpuc2/ .. .gpucN/  a part each -> cp .gpucK/pK /root/stage/
#   .gpucf/    the last part        -> bash scripts/device/last.sh DEADLINE_S PARALLEL ONLY
# .gpucall and .gpucf also hold the commit that the runs record (bundle after committing).
# A machine stays warm 30 s after a call: make the calls back to back (docs/experiments.md).
#
#   scripts/device/bundle.sh            # in the repository root, with the venv active
set -euo pipefail
SHARED=${SHARED:-../shared/data}
CARRY_MAX=${CARRY_MAX:-43200000}  # bytes per call: 43.26 MB was accepted, 46.8 MB refused
STAGE=${STAGE:-/tmp/hypercl_device_stage}
SITE=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf "$STAGE" .gpucall .gpuc[0-9]* .gpucf && mkdir -p "$STAGE/site" "$STAGE/sd"
# pytest and its dependencies: first.sh runs tests/test_cuda_graph.py there.
for pkg in hydra omegaconf antlr4 avalanche dill gdown bs4 pytorchcv GPUtil qpsolvers \
  pytest _pytest pluggy iniconfig packaging pygments; do
  cp -r "$SITE/$pkg" "$STAGE/site/"
done
for dist in hydra_core omegaconf antlr4_python3_runtime avalanche_lib dill gdown beautifulsoup4 \
  pytorchcv qpsolvers pytest pluggy iniconfig packaging pygments; do
  cp -r "$SITE/$dist"-*.dist-info "$STAGE/site/"
done
mkdir -p "$STAGE/site/wandb"
printf '"""A stand-in for wandb, absent there: avalanche-lib imports it when imported."""\n' \
  > "$STAGE/site/wandb/__init__.py"
find "$STAGE/site" -name __pycache__ -prune -exec rm -rf {} +
cp -r "$SHARED/mnist" "$SHARED/restore.py" "$STAGE/sd/"
# The official code, patched (scripts/official_hypercl.sh setup; about 1 MB), for
# gpu_session.sh's official Permuted-MNIST-10 jobs; its data links are made there.
official=()
if OFFICIAL_DIR="$STAGE/official" scripts/official_hypercl.sh setup > /dev/null; then
  rm -rf "$STAGE/official/datasets" && official=(official)
else
  echo "bundle: no official code packed (set OFFICIAL_SRC), so its jobs will fail there" >&2
fi
tar czf "$STAGE/boot.tgz" -C "$STAGE" site sd ${official[@]+"${official[@]}"}
tar cf "$STAGE/cifar.tar" -C "$SHARED" cifar10 cifar100

boot=$(stat -c %s "$STAGE/boot.tgz")
first=$((CARRY_MAX - boot - 10000))
mkdir -p .gpucall
head -c "$first" "$STAGE/cifar.tar" > .gpucall/p1
tail -c +$((first + 1)) "$STAGE/cifar.tar" | split -b "$CARRY_MAX" -d -a 1 - "$STAGE/part"
parts=("$STAGE"/part*)
((${#parts[@]} <= 8)) || { echo "more than 9 parts: raise CARRY_MAX" >&2; exit 1; }
in_order=(.gpucall/p1)
k=2
for part in "${parts[@]}"; do
  if [[ $part == "${parts[-1]}" ]]; then dir=.gpucf; else dir=.gpuc$k; fi
  mkdir -p "$dir" && mv "$part" "$dir/p$k"
  in_order+=("$dir/p$k")
  k=$((k + 1))
done
cat "${in_order[@]}" | cmp - "$STAGE/cifar.tar"  # the parts join to the original
cp "$STAGE/boot.tgz" .gpucall/
git rev-parse HEAD | tee .gpucf/commit > .gpucall/commit
rm -rf "$STAGE"
du -b --max-depth=0 .gpucall .gpuc[0-9]* .gpucf
