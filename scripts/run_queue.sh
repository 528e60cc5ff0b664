#!/usr/bin/env bash
# Runs the lines of a queue file one after another, for long CPU reproductions that span
# sessions. A line is one shell command (blank lines and lines starting with '#' are skipped);
# `$RUNS` in a line is the folder for run directories. Several workers may share one queue:
# each claims the next free line under a lock. A line is done when its command exits 0. A
# worker restarted under its name first re-runs the line it had claimed, which resumes from
# its run directory's checkpoint (hypercl.train saves one on SIGTERM).
#
#   RUNS=/work/runs nohup scripts/run_queue.sh scripts/cpu_queue.txt A > /work/runs/A.log 2>&1 &
#
# State, beside nothing in git: $RUNS/queue.done (finished lines), $RUNS/queue.claimed.<worker>,
# $RUNS/queue.log (one line per start and end). Edit the queue file freely: lines are matched
# by their text.
set -uo pipefail
QUEUE=${1:?usage: run_queue.sh QUEUE_FILE [WORKER]}
WORKER=${2:-A}
RUNS=${RUNS:?set RUNS to the folder for run directories and queue state}
export RUNS
mkdir -p "$RUNS"
DONE=$RUNS/queue.done
CLAIMED=$RUNS/queue.claimed.$WORKER
touch "$DONE" "$CLAIMED"

# next_line: the claimed line of this worker if any, else the first line neither done nor
# claimed by another worker (claimed now). Prints nothing when the queue is exhausted.
next_line() {
  (
    flock 9
    if [[ -s $CLAIMED ]]; then
      cat "$CLAIMED"
      exit 0
    fi
    while IFS= read -r line; do
      [[ -z ${line// /} || $line == \#* ]] && continue
      grep -qxF -- "$line" "$DONE" && continue
      grep -qxF -- "$line" "$RUNS"/queue.claimed.* && continue
      printf '%s\n' "$line" > "$CLAIMED"
      printf '%s\n' "$line"
      exit 0
    done < "$QUEUE"
  ) 9> "$RUNS/queue.lock"
}

while line=$(next_line) && [[ -n $line ]]; do
  echo "$(date -Is) $WORKER start: $line" >> "$RUNS/queue.log"
  bash -c "$line"
  rc=$?
  echo "$(date -Is) $WORKER end rc=$rc: $line" >> "$RUNS/queue.log"
  if ((rc != 0)); then
    echo "$WORKER: stopping, the line failed (rc $rc); fix it or remove it, then restart" >&2
    exit "$rc"
  fi
  (flock 9 && printf '%s\n' "$line" >> "$DONE" && : > "$CLAIMED") 9> "$RUNS/queue.lock"
done
echo "$(date -Is) $WORKER: queue exhausted" >> "$RUNS/queue.log"
