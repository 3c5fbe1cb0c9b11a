#!/usr/bin/env bash
# bench/write-run.sh [--rev COMMIT] [--quick] [--clients ours,s3fs,rclone] [--only seq,cp,tar,rsync,rss]
#
# The write benchmark of issue 12 in one command (see "Writes (issue 12)" in bench/README.md):
# installs what is missing, builds our client from COMMIT (default: HEAD when the script
# starts; git archive, built aside with tsc, because others edit src/ meanwhile), starts one
# Ceph RGW, runs the raw SDK multipart ceiling and every write workload on ours, s3fs and
# rclone (writable mounts), and writes bench/results/2026-12-02-writes-<lan|quick>.md.
#
# Runs as root (apt-get, mounts, sync). Whatever happens to the Node process, the trap below
# leaves no mount, no client process and no RGW behind.
set -euo pipefail

main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  log() { echo "[bench/write-run.sh] $*" >&2; }
  (( EUID == 0 )) || { log "run as root: the bench mounts FUSE file systems"; exit 1; }
  REV=HEAD
  args=()
  while (( $# )); do
    if [[ $1 == --rev ]]; then
      (( $# >= 2 )) || { log "--rev needs a commit"; exit 2; }
      REV=$2
      shift 2
    else
      args+=("$1")
      shift
    fi
  done
  REV=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || { log "--rev $REV: no such commit"; exit 2; }

  # ------------------------------------------------------------------ tools
  missing=()
  for pkg in s3fs rclone rsync tar; do
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  bash "$ROOT/scripts/install-deps.sh" --system-only
  [[ -f $ROOT/node_modules/.package-lock.json ]] || (cd "$ROOT" && npm ci --no-audit --no-fund >&2)

  # ------------------------------------------------------------------ clean-up net
  WORK=$(mktemp -d /tmp/fluid-wbench.XXXXXX)
  cleanup() {
    local rc=$?
    while read -r mp; do
      [[ -n $mp ]] || continue
      log "unmounting leftover $mp"
      umount -l "$mp" 2>/dev/null || fusermount -uz "$mp" 2>/dev/null || true
    done < <(awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo)
    if [[ -f $WORK/client-pids ]]; then
      while read -r pid name mnt; do
        if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$mnt"; then
          log "killing leftover $name (pid $pid)"
          kill -KILL "$pid" 2>/dev/null || true
        fi
      done < "$WORK/client-pids"
    fi
    [[ -f $WORK/rgw/pids ]] && bash "$ROOT/scripts/rgw-stop.sh" "$WORK/rgw" --purge || true
    if (( rc == 0 )); then
      rm -rf --one-file-system -- "$WORK"
    else
      # keep the logs, drop the big inputs and caches
      rm -rf --one-file-system -- "$WORK/src" "$WORK/rclone-cache" "$WORK/app"
      log "failed (exit $rc); client logs kept in $WORK"
    fi
    exit "$rc"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP

  mkdir -p "$WORK/app"
  ln -s "$ROOT/node_modules" "$WORK/app/node_modules"
  log "building ${REV:0:7} aside in $WORK/app"
  git -C "$ROOT" archive "$REV" src tsconfig.json package.json | tar -x -C "$WORK/app"
  (cd "$WORK/app" && node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json >&2)
  export FLUID_BENCH_APP=$WORK/app
  export FLUID_BENCH_REV="${REV:0:7} (git archive of the commit, built aside with tsc: no uncommitted change)"

  cd "$ROOT"
  node bench/write-run.mjs --workdir "$WORK" "${args[@]}"
}
main "$@"
