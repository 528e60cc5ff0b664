#!/usr/bin/env bash
# The first call on a device machine (scripts/device/bundle.sh): unpack the packages, MNIST
# and the first CIFAR part into /root/stage, check short CUDA runs of ENT, TIR, HNET+R and DGR
# end to end (3 tasks: the VAE's regularizer and DGR's own replay run), and run
# tests/test_cuda_graph.py (graph replay gives the eager parameters). If that test fails, run
# the jobs eagerly: EXTRA=train.cuda_graphs=false bash scripts/device/last.sh ... (or first.sh).
# With arguments DEADLINE_S PARALLEL ONLY it then starts scripts/gpu_session.sh detached (MNIST
# jobs only, no CIFAR), which outlives this call while the machine is held: hold it with
# scripts/device/wait.sh calls, which bring back its archive.
. scripts/device/env.sh
mkdir -p $S /root/data
tar xzf .gpucall/boot.tgz -C $S && cp .gpucall/p1 $S/ || exit 1
python3 $S/sd/restore.py /root/data mnist > /dev/null || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
for method in "method=hnet" "method.task_inference=tir" "method=hnet_replay" "method=dgr"; do
  echo "smoke $method: $(python3 -m hypercl.train experiment=perm_mnist10_cl3 $method \
    benchmark.num_tasks=3 train.iters_per_task=50 train.epochs_per_task=null device=cuda \
    hydra.run.dir="/tmp/smoke/${method//[.=]/_}" 2>&1 | tail -n 2 | head -n 1)"
done
python3 -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py 2>&1 | tail -n 4
if (($# == 3)); then
  mkdir -p /root/pack
  HYPERCL_GIT_COMMIT=$(cat .gpucall/commit) OUT=/root/pack DEADLINE_S=$1 PARALLEL=$2 \
    THREADS=1 ONLY=$3 setsid nohup scripts/gpu_session.sh > /root/pack/session.log 2>&1 \
    < /dev/null &
  echo "gpu_session.sh started, detached, after $SECONDS s"
fi
