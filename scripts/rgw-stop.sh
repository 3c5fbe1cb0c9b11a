#!/usr/bin/env bash
# scripts/rgw-stop.sh DATA_DIR [--purge]
#
# Stop the S3 server that scripts/rgw-start.sh started in DATA_DIR: the daemons listed in
# DATA_DIR/pids, newest first (radosgw, OSD, mon), by PID only.  A PID is signalled only
# while /proc/PID/cmdline still names DATA_DIR/ceph.conf (so a reused PID is never hit).
# SIGTERM first, SIGKILL to the same PID after STOP_TIMEOUT seconds (default 20).
# All S3 data is lost (it lived in the OSD's RAM).  Takes well under 1 s.
#
# --purge   also delete DATA_DIR afterwards (only if rgw-start.sh created it).
#
# Exit 0 when nothing of ours is left running (also when it was already stopped).
set -uo pipefail

[[ $# -ge 1 && $# -le 2 && ( $# == 1 || $2 == --purge ) ]] || { echo "usage: $0 DATA_DIR [--purge]" >&2; exit 2; }
DATA=$(cd "$1" 2>/dev/null && pwd) || { echo "rgw-stop: no such directory: $1" >&2; exit 1; }
PURGE=0; [[ ${2:-} == --purge ]] && PURGE=1
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
CONF=$DATA/ceph.conf

ours() { [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$CONF"; }

rc=0
if [[ -f $DATA/pids ]]; then
  while read -r pid name; do
    [[ -n ${pid:-} ]] || continue
    if ! ours "$pid"; then echo "rgw-stop: $name (pid $pid) not running" >&2; continue; fi
    sig=TERM t0=$EPOCHREALTIME
    kill -s TERM "$pid" 2>/dev/null
    end=$(( $(date +%s) + STOP_TIMEOUT ))
    while ours "$pid" && (( $(date +%s) < end )); do sleep 0.05; done
    if ours "$pid"; then
      echo "rgw-stop: $name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s, sending SIGKILL" >&2
      sig=KILL
      kill -s KILL "$pid" 2>/dev/null
      for _ in 1 2 3 4 5 6 7 8 9 10; do ours "$pid" || break; sleep 0.1; done
      if ours "$pid"; then echo "rgw-stop: $name (pid $pid) still alive" >&2; rc=1; continue; fi
    fi
    echo "rgw-stop: stopped $name (pid $pid, SIG$sig, $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.2f", a-b}') s)" >&2
  done < <(tac "$DATA/pids")
else
  echo "rgw-stop: $DATA/pids not found (nothing was started there)" >&2
fi

if (( PURGE )); then
  if (( rc != 0 )); then
    echo "rgw-stop: not purging $DATA: a daemon is still running" >&2
  elif [[ -f $DATA/.throwaway-ceph-rgw ]]; then
    rm -rf -- "$DATA" && echo "rgw-stop: removed $DATA" >&2
  else
    echo "rgw-stop: not purging $DATA (no .throwaway-ceph-rgw marker: not made by rgw-start.sh)" >&2
    rc=1
  fi
fi
exit $rc
