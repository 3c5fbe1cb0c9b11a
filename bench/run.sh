#!/usr/bin/env bash
# bench/run.sh [--quick] [--slow-link [--rtt 20ms] [--per-conn 20MB/s]] [--runs N]
#              [--clients ours,s3fs,rclone] [--only 'sequential,ls -l,…'] [--rev COMMIT]
#
# --rev COMMIT measures that commit's src/ (git archive, built aside with tsc) instead of the
# work tree as it is: others edit src/ while a bench runs, and a half-done change may not build.
#
# The benchmark of issue 3 in one command (see bench/README.md): installs what is missing,
# starts one Ceph RGW, loads the data, runs every workload on ours, s3fs and rclone, prints
# the table and writes it to bench/results/<date>-<lan|slow>[-quick].md.
#
# Runs as root (apt-get, mounts, drop_caches). Whatever happens to the Node process, the trap
# below leaves no mount, no client process, no proxy and no RGW behind.
set -euo pipefail

# All in one function: bash parses it whole before running it, so editing this file while a
# bench runs (it takes minutes) cannot make the running copy execute half-read lines.
main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  log() { echo "[bench/run.sh] $*" >&2; }
  (( EUID == 0 )) || { log "run as root: the bench mounts FUSE file systems and drops the page cache"; exit 1; }
  # --rev is this script's own flag; everything else goes to run.mjs
  REV=''
  args=()
  while (( $# )); do
    if [[ $1 == --rev ]]; then
      (( $# >= 2 )) || { log "--rev needs a commit"; exit 2; }
      REV=$(git -C "$ROOT" rev-parse --verify "$2^{commit}") || { log "--rev $2: no such commit"; exit 2; }
      shift 2
    else
      args+=("$1")
      shift
    fi
  done

  # ------------------------------------------------------------------ tools
  missing=()
  for pkg in s3fs rclone fio; do
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  # our client: Debian deps (fuse, Ceph), npm ci, tsc (with --rev: the build is done below)
  if [[ -n $REV ]]; then
    bash "$ROOT/scripts/install-deps.sh" --system-only
    [[ -f $ROOT/node_modules/.package-lock.json ]] || (cd "$ROOT" && npm ci --no-audit --no-fund >&2)
  else
    bash "$ROOT/scripts/install-deps.sh"
  fi

  # ------------------------------------------------------------------ clean-up net
  WORK=$(mktemp -d /tmp/fluid-bench.XXXXXX)
  cleanup() {
    local rc=$?
    # mounts first: a process is not killed while its mount is still up
    while read -r mp; do
      [[ -n $mp ]] || continue
      log "unmounting leftover $mp"
      umount -l "$mp" 2>/dev/null || fusermount -uz "$mp" 2>/dev/null || true
    done < <(awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo)
    # client processes, by PID, only while their command line still names our mountpoint
    if [[ -f $WORK/client-pids ]]; then
      while read -r pid name mnt; do
        if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$mnt"; then
          log "killing leftover $name (pid $pid)"
          kill -KILL "$pid" 2>/dev/null || true
        fi
      done < "$WORK/client-pids"
    fi
    if [[ -f $WORK/proxy-pid ]]; then
      pid=$(cat "$WORK/proxy-pid")
      if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q slow-proxy.mjs; then
        kill -TERM "$pid" 2>/dev/null || true
      fi
    fi
    [[ -f $WORK/rgw/pids ]] && bash "$ROOT/scripts/rgw-stop.sh" "$WORK/rgw" --purge || true
    if (( rc == 0 )); then
      rm -rf --one-file-system -- "$WORK"
    else
      log "failed (exit $rc); client logs kept in $WORK"
    fi
    exit "$rc"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP

  # Measure one build for the whole run: others rebuild dist/ while they work, so snapshot it
  # (with package.json for "type": "module", and node_modules by link).
  mkdir -p "$WORK/app"
  ln -s "$ROOT/node_modules" "$WORK/app/node_modules"
  if [[ -n $REV ]]; then
    log "building ${REV:0:7} aside in $WORK/app"
    git -C "$ROOT" archive "$REV" src tsconfig.json package.json | tar -x -C "$WORK/app"
    (cd "$WORK/app" && node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json >&2)
    FLUID_BENCH_REV="${REV:0:7} (git archive of the commit, built aside: no uncommitted change)"
  else
    cp -r "$ROOT/dist" "$ROOT/package.json" "$WORK/app/"
    FLUID_BENCH_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(git -C "$ROOT" status --porcelain -- src 2>/dev/null | wc -l) uncommitted change(s) under src/ (dist/ as built by scripts/install-deps.sh at the start of the bench)"
  fi
  export FLUID_BENCH_APP=$WORK/app
  export FLUID_BENCH_REV

  cd "$ROOT"
  node bench/run.mjs --workdir "$WORK" "${args[@]}"
}
main "$@"
