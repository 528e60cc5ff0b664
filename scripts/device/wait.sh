#!/usr/bin/env bash
# Holds a device machine while the detached scripts/gpu_session.sh (first.sh with arguments)
# runs: waits up to $1 seconds, less if the session ends, then copies its archive and log to
# $OUT. Make such calls back to back; the last one brings back everything finished by then.
for ((t = 0; t < $1; t += 10)); do
  grep -q '^done after' /root/pack/session.log 2> /dev/null && break
  sleep 10
done
cp /root/pack/gpu_runs.tar.gz /root/pack/session.log "$OUT/"
grep '^===\|^done after\|^skip' /root/pack/session.log | tail -n 30
