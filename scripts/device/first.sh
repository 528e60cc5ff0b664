#!/usr/bin/env bash
# The first call on a device machine (scripts/device/bundle.sh): unpack the packages, MNIST
# and the first CIFAR part into /root/stage, and check a short CUDA run end to end.
S=/root/stage
mkdir -p $S /root/data
tar xzf .gpucall/boot.tgz -C $S && cp .gpucall/p1 $S/ || exit 1
python3 $S/sd/restore.py /root/data mnist > /dev/null || exit 1
export PYTHONPATH=$S/site${PYTHONPATH:+:$PYTHONPATH} HYPERCL_DATA_DIR=/root/data WANDB_SILENT=true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
python3 -m hypercl.train experiment=perm_mnist10_cl3 benchmark.num_tasks=2 \
  train.iters_per_task=200 train.epochs_per_task=null device=cuda hydra.run.dir=/tmp/smoke 2>&1 |
  tail -n 2
