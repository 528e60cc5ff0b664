#!/usr/bin/env bash
# Copies the summary of every finished run (a directory holding results.json) under FROM to the
# same relative path under TO: its top-level files but checkpoints (*.pt) and the lock, and .hydra/ (the
# overrides that the tables' Provenance turns into a command). Prints each destination.
#
#   scripts/collect_runs.sh /work/runs/perm_mnist100 results/runs/perm_mnist100
set -euo pipefail
FROM=${1:?usage: collect_runs.sh FROM TO}
TO=${2:?usage: collect_runs.sh FROM TO}
find "$FROM" -name results.json -printf '%h\n' | sort | while read -r dir; do
  dest=$TO${dir#"$FROM"}
  mkdir -p "$dest"
  find "$dir" -maxdepth 1 -type f ! -name '*.pt' ! -name .lock -exec cp {} "$dest"/ \;
  cp -r "$dir/.hydra" "$dest"/
  echo "$dest"
done
