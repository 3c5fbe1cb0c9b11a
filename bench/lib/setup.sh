# bench/lib/setup.sh: what bench/run.sh, bench/write-run.sh and bench/disk-run.sh share, sourced
# by each of them (it defines functions only; nothing runs when it is sourced):
#
#   bench_init NAME ROOT        log() as "[bench/NAME] …", and the root check
#   bench_split_rev DEFAULT …   --rev COMMIT out of the arguments: REV (resolved, or '' for the
#                               work tree when DEFAULT is '' and no --rev was given), ARGS (the rest)
#   bench_install PKG…          apt-get what is missing of PKG…, then our client's dependencies
#                               (scripts/install-deps.sh; without REV it also builds dist/)
#   bench_workdir PREFIX DROP…  a fresh work folder WORK=/tmp/PREFIX.XXXXXX and the EXIT trap:
#                               unmount everything under WORK, kill leftover clients by PID, stop
#                               the slow-link proxy and RGW; delete WORK after a good run, or keep
#                               its logs (minus DROP…, big inputs and caches) after a failed one
#   bench_app                   the build measured: REV's src/ built aside with tsc, or without
#                               REV a copy of dist/; exports FLUID_BENCH_APP and FLUID_BENCH_REV
#   bench_main MJS DEFAULT PREFIX ARGS…   all of the above in order (packages in BENCH_PKGS, what to
#                               drop after a failure in BENCH_DROP), then node bench/MJS --workdir
#
# The callers keep everything in one function (main) and source this file before they call it:
# bash parses a function whole, so editing these files while a bench runs cannot make the
# running copy execute half-read lines.

bench_init() {
  BENCH_NAME=$1
  ROOT=$2
  log() { echo "[bench/$BENCH_NAME] $*" >&2; }
  (( EUID == 0 )) || { log "run as root: the bench mounts FUSE file systems and drops the page cache"; exit 1; }
}

bench_split_rev() {
  REV=$1
  shift
  ARGS=()
  while (( $# )); do
    if [[ $1 == --rev ]]; then
      (( $# >= 2 )) || { log "--rev needs a commit"; exit 2; }
      REV=$2
      shift 2
    else
      ARGS+=("$1")
      shift
    fi
  done
  if [[ -n $REV ]]; then
    REV=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || { log "--rev $REV: no such commit"; exit 2; }
  fi
}

bench_install() {
  local missing=() pkg
  for pkg in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  # our client: Debian deps (fuse, Ceph), npm ci, tsc (with a REV: the build is done by bench_app)
  if [[ -n $REV ]]; then
    bash "$ROOT/scripts/install-deps.sh" --system-only
    [[ -f $ROOT/node_modules/.package-lock.json ]] || (cd "$ROOT" && npm ci --no-audit --no-fund >&2)
  else
    bash "$ROOT/scripts/install-deps.sh"
  fi
}

bench_workdir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  shift
  BENCH_DROP_ON_FAIL=("$@")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM HUP
}

bench_cleanup() {
  local rc=$? mp pid name mnt d
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
    # keep the logs, drop the big inputs and caches
    for d in "${BENCH_DROP_ON_FAIL[@]}"; do rm -rf --one-file-system -- "${WORK:?}/$d"; done
    log "failed (exit $rc); client logs kept in $WORK"
  fi
  exit "$rc"
}

bench_app() {
  # Measure one build for the whole run: others rebuild dist/ and edit src/ while they work, so
  # snapshot it (with package.json for "type": "module", and node_modules by link).
  mkdir -p "$WORK/app"
  ln -s "$ROOT/node_modules" "$WORK/app/node_modules"
  if [[ -n $REV ]]; then
    log "building ${REV:0:7} aside in $WORK/app"
    git -C "$ROOT" archive "$REV" src tsconfig.json package.json | tar -x -C "$WORK/app"
    (cd "$WORK/app" && node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json >&2)
    FLUID_BENCH_REV="${REV:0:7} (git archive of the commit, built aside with tsc: no uncommitted change)"
  else
    cp -r "$ROOT/dist" "$ROOT/package.json" "$WORK/app/"
    FLUID_BENCH_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(git -C "$ROOT" status --porcelain -- src 2>/dev/null | wc -l) uncommitted change(s) under src/ (dist/ as built by scripts/install-deps.sh at the start of the bench)"
  fi
  export FLUID_BENCH_APP=$WORK/app
  export FLUID_BENCH_REV
}

bench_main() {
  local mjs=$1 default_rev=$2 prefix=$3
  shift 3
  bench_split_rev "$default_rev" "$@"
  bench_install "${BENCH_PKGS[@]}"
  bench_workdir "$prefix" "${BENCH_DROP[@]}"
  bench_app
  cd "$ROOT"
  node "bench/$mjs" --workdir "$WORK" "${ARGS[@]}"
}
