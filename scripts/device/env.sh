# The environment of hypercl on the device machine, sourced by first.sh and last.sh: the
# packages and data that bundle.sh carried there, unpacked under /root/stage and /root/data.
S=/root/stage
export PYTHONPATH=$S/site${PYTHONPATH:+:$PYTHONPATH} HYPERCL_DATA_DIR=/root/data WANDB_SILENT=true
