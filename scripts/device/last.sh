#!/usr/bin/env bash
# The last call on a device machine (scripts/device/bundle.sh): join the CIFAR parts that the
# earlier calls left in /root/stage with the one carried now, restore the data, run
# scripts/gpu_session.sh. Arguments: DEADLINE_S PARALLEL ONLY (gpu_session.sh's). The commit
# the runs record: HYPERCL_GIT_COMMIT, as the copy there has no git history. EXTRA (overrides
# for every job, e.g. train.cuda_graphs=false) passes through to gpu_session.sh.
. scripts/device/env.sh
cat $S/p[0-9]* .gpucf/p[0-9]* | tar x -C $S/sd && rm -f $S/p[0-9]* || exit 1
python3 $S/sd/restore.py /root/data cifar10 cifar100 > /dev/null || exit 1
export PYTHONUNBUFFERED=1 HYPERCL_GIT_COMMIT=${HYPERCL_GIT_COMMIT:-$(cat .gpucf/commit)}
echo "setup done after $SECONDS s"
DEADLINE_S=$1 PARALLEL=$2 THREADS=1 ONLY=$3 scripts/gpu_session.sh
