#!/usr/bin/env bash
# scripts/test.sh [TAP ARGS...]     -- THE test command (README, .ci/run, `npm test`)
#
#   bash scripts/test.sh                          all tests: test/unit and test/integration
#   bash scripts/test.sh test/unit/config         only these files / folders
#   bash scripts/test.sh test/integration/rgw-smoke.test.ts --grep=ranged   (any tap option)
#
# What it does:
#   1. scripts/install-deps.sh (Debian packages, npm ci, npm run build); skipped with SKIP_DEPS=1.
#   2. Starts ONE throw-away S3 server (Ceph RGW, scripts/rgw-start.sh) for the whole run, in a
#      fresh temp dir, and exports its s3.env: S3_ENDPOINT, AWS_ACCESS_KEY_ID,
#      AWS_SECRET_ACCESS_KEY, AWS_REGION.  Test files share it; each test makes its own bucket
#      (test/integration/helpers/s3.ts).
#   3. Runs `npx tap --reporter=tap ARGS` (default ARGS: test/unit test/integration), with
#      FLUID_S3_FUSE_TEST_ROOT set to a fresh empty dir for the tests' mounts and configs, and
#      its TAP output copied to a log (TEST_LOG=path keeps it; default: a temp file, removed).
#   4. While tap runs, a watchdog ends processes that outlive the test file that started them
#      (found by the FLUID_S3_FUSE_TEST_ROOT value in their environment): a leaked agent would
#      otherwise keep its mount, and can keep tap waiting forever on the test's stdout.
#      After tap, always (also on failure or Ctrl-C): lazily unmounts (fusermount -uz) any mount
#      left under FLUID_S3_FUSE_TEST_ROOT, ends any process still carrying that variable, stops
#      and purges the RGW, removes the temp dir.
#   5. Prints `P passed, F failed` (plus `, S skipped` when S > 0) from tap's closing
#      `# { total: …, pass: …, fail: … }` line as the LAST line of output.  Without that line
#      (tap crashed, set-up failed, interrupted) it prints `0 passed, 1 failed`.
#
# Exit code: tap's; 1 when tap printed no summary or set-up failed; 130 on Ctrl-C.
# Env: SKIP_DEPS=1 (fast local loop), RGW_PORT (default: 7480, or a free port if busy),
#      TEST_LOG (keep the TAP log there), MEMSTORE_MB (RGW RAM capacity, default 4096).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -z ${TEST_LOG:-} ]] || TEST_LOG=$(realpath -m -- "$TEST_LOG")   # relative to the caller's cwd
cd "$ROOT" || exit 1

T0=$EPOCHREALTIME
since() { awk -v a="$EPOCHREALTIME" -v b="$1" 'BEGIN{printf "%.1f", a-b}'; }
log() { echo "[test.sh] $*" >&2; }

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fluid-s3-fuse-test.XXXXXX") || exit 1
RGW_DIR=$RUN_DIR/rgw
TEST_ROOT=$RUN_DIR/root
TAP_LOG=${TEST_LOG:-$RUN_DIR/tap.log}
mkdir -p "$TEST_ROOT" "$(dirname "$TAP_LOG")"
: > "$TAP_LOG" || exit 1

TAP_RC=    # empty until tap has run
WATCHDOG_PID=
RGW_STARTED=0
INTERRUPTED=0
T_DEPS=- T_LINT=- T_RGW=- T_TAP=-
LINT_PASSED=0 LINT_FAILED=0

# ---------------------------------------------------------------- clean-up (safety nets)

# Mount points under TEST_ROOT, deepest first (mountinfo field 5, octal escapes decoded).
mounts_under_root() {
  local mp
  while read -r _ _ _ _ mp _; do
    mp=$(printf '%b' "$mp")
    [[ $mp == "$TEST_ROOT" || $mp == "$TEST_ROOT"/* ]] && echo "$mp"
  done < /proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

unmount_leftovers() {
  local mp
  while IFS= read -r mp; do
    [[ -n $mp ]] || continue
    log "WARNING: a test left $mp mounted; unmounting it (fusermount -uz)"
    fusermount -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
  done < <(mounts_under_root)
}

# Processes started (directly or not) by tap inherit FLUID_S3_FUSE_TEST_ROOT=$TEST_ROOT: any
# still alive after tap exited were leaked by a test (e.g. an agent nobody stopped).
leaked_pids() {  # one grep over all environ files (NUL-separated entries, exact match)
  grep -lzxF "FLUID_S3_FUSE_TEST_ROOT=$TEST_ROOT" /proc/[0-9]*/environ 2>/dev/null \
    | sed -n 's:^/proc/\([0-9]*\)/environ$:\1:p'
}

# While tap runs: a process with the marker whose parent lacks it (and is not this script) was
# orphaned by a test process that already exited.  Such a process must go: besides any mount it
# serves, it may hold the dead test's stdout, and then tap waits for EOF forever (seen here).
# Ended after ORPHAN_GRACE seconds (default 3): SIGTERM, then SIGKILL 5 s later.
orphan_watchdog() {
  local -A first_seen=() termed=()
  local pids pid ppid now grace=${ORPHAN_GRACE:-3}
  trap - EXIT INT TERM
  while sleep 1; do
    mapfile -t pids < <(leaked_pids)
    local -A marked=()
    for pid in "${pids[@]}"; do marked[$pid]=1; done
    now=$SECONDS
    for pid in "${pids[@]}"; do
      ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
      [[ -n $ppid && -z ${marked[$ppid]:-} && $ppid != "$$" ]] || continue
      : "${first_seen[$pid]:=$now}"
      if (( now - first_seen[$pid] >= grace + 5 )) && [[ -n ${termed[$pid]:-} ]]; then
        log "WARNING: orphaned test process $pid ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
      elif (( now - first_seen[$pid] >= grace )) && [[ -z ${termed[$pid]:-} ]]; then
        log "WARNING: process $pid outlived the test that started it ($(tr '\0\n' '  ' 2>/dev/null < "/proc/$pid/cmdline" | cut -c1-120)); sending SIGTERM"
        termed[$pid]=1
        kill -TERM "$pid" 2>/dev/null
      fi
    done
    unset marked
  done
}

end_leaked_processes() {
  local pids pid i
  mapfile -t pids < <(leaked_pids)
  (( ${#pids[@]} )) || return 0
  for pid in "${pids[@]}"; do
    log "WARNING: process $pid outlived tap ($(tr '\0\n' '  ' 2>/dev/null < "/proc/$pid/cmdline" | cut -c1-120)); sending SIGTERM"
    kill -TERM "$pid" 2>/dev/null
  done
  for ((i = 0; i < 50; i++)); do
    mapfile -t pids < <(leaked_pids)
    (( ${#pids[@]} )) || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do log "process $pid ignored SIGTERM; sending SIGKILL"; kill -KILL "$pid" 2>/dev/null; done
  sleep 0.2
}

finish() {
  local rc=$? t_clean=$EPOCHREALTIME summary
  trap - EXIT INT TERM
  [[ -n $WATCHDOG_PID ]] && kill "$WATCHDOG_PID" 2>/dev/null && wait "$WATCHDOG_PID" 2>/dev/null
  summary=$(node "$ROOT/scripts/tap-summary.mjs" "$TAP_LOG" 2>/dev/null)
  # lint and format count as one test each
  if [[ -n $summary ]] && (( LINT_PASSED + LINT_FAILED > 0 )); then
    summary=$(awk -v p="$LINT_PASSED" -v f="$LINT_FAILED" '{ $1 += p; $3 += f; print }' <<< "$summary")
  fi
  # 1. mounts first: a well-behaved agent exits by itself when its mount goes away
  unmount_leftovers
  end_leaked_processes
  unmount_leftovers
  # 2. the S3 server
  if (( RGW_STARTED )) || [[ -f $RGW_DIR/pids ]]; then
    bash "$ROOT/scripts/rgw-stop.sh" "$RGW_DIR" --purge 2>/dev/null || log "WARNING: stopping RGW failed (see $RGW_DIR)"
  fi
  # 3. the temp dir -- never through a mount that is still there
  if [[ -n $(mounts_under_root) ]]; then
    log "WARNING: mounts remain under $TEST_ROOT; not removing $RUN_DIR"
  else
    rm -rf -- "$RUN_DIR"
  fi

  if [[ -z $TAP_RC ]]; then               # set-up failed or interrupted before tap ran
    (( rc == 0 )) && rc=1
  else
    rc=$TAP_RC
    if [[ -z $summary ]]; then
      log "tap printed no '# { total: … }' summary line (exit code $TAP_RC)"
      (( rc == 0 )) && rc=1
    elif (( rc != 0 )) && [[ $summary == *" 0 failed"* ]]; then
      log "tap exited with code $rc although no test failed (a test file crashed or timed out?)"
    fi
  fi
  (( LINT_FAILED > 0 && rc == 0 )) && rc=1
  (( INTERRUPTED )) && rc=130
  log "times: install-deps ${T_DEPS}s, lint ${T_LINT}s, rgw start ${T_RGW}s, tap ${T_TAP}s, clean-up $(since "$t_clean")s, total $(since "$T0")s"
  [[ -n $summary ]] || summary="0 passed, 1 failed"
  echo "$summary"   # the LAST line of output: CI reads it
  exit "$rc"
}
trap finish EXIT
trap 'INTERRUPTED=1; log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- 1. dependencies
t=$EPOCHREALTIME
if [[ ${SKIP_DEPS:-0} == 1 ]]; then
  log "SKIP_DEPS=1: not running install-deps.sh"
else
  bash "$ROOT/scripts/install-deps.sh" || { log "ERROR: scripts/install-deps.sh failed"; exit 1; }
fi
T_DEPS=$(since "$t")

# ---------------------------------------------------------------- 1b. lint and format
# On a full run (no arguments) only: eslint (type-aware, eslint.config.js) and prettier --check;
# each counts as one test in the closing line. SKIP_LINT=1 skips them.
if [[ ${SKIP_LINT:-0} != 1 ]] && (( $# == 0 )); then
  t=$EPOCHREALTIME
  if npx --no-install eslint src test bench scripts eslint.config.js >&2; then LINT_PASSED=$((LINT_PASSED + 1)); else LINT_FAILED=$((LINT_FAILED + 1)); log "ERROR: eslint found problems (above)"; fi
  if npx --no-install prettier --check . > /dev/null 2>&1; then LINT_PASSED=$((LINT_PASSED + 1)); else
    LINT_FAILED=$((LINT_FAILED + 1)); log "ERROR: files not formatted (npx prettier --write . fixes them):"; npx --no-install prettier --list-different . >&2
  fi
  T_LINT=$(since "$t")
fi

# ---------------------------------------------------------------- 2. S3 server
t=$EPOCHREALTIME
RGW_STARTED=1
if ! bash "$ROOT/scripts/rgw-start.sh" "$RGW_DIR" ${RGW_PORT:+"$RGW_PORT"} > /dev/null; then
  # an auto-picked port can be taken by a concurrent run between check and bind: retry once
  [[ -z ${RGW_PORT:-} ]] || { log "ERROR: could not start RGW on port $RGW_PORT"; exit 1; }
  log "RGW start failed; retrying once"
  sleep 1
  bash "$ROOT/scripts/rgw-start.sh" "$RGW_DIR" > /dev/null || { log "ERROR: could not start RGW (scripts/rgw-start.sh)"; exit 1; }
fi
set -a
# shellcheck source=/dev/null
. "$RGW_DIR/s3.env"
set +a
T_RGW=$(since "$t")
log "S3 (Ceph RGW) at $S3_ENDPOINT; FLUID_S3_FUSE_TEST_ROOT=$TEST_ROOT"

# ---------------------------------------------------------------- 3. tap
args=("$@")
if (( ${#args[@]} == 0 )); then
  for d in test/unit test/integration; do [[ -d $d ]] && args+=("$d"); done
  (( ${#args[@]} )) || { log "ERROR: neither test/unit nor test/integration exists"; exit 1; }
fi
tap_opts=(--reporter=tap)
# helper modules under test/**/helpers/ are not test files (tap would report each as a skip);
# the pattern keeps tap's default exclusions (dist, fixture(s)).  package.json's own wins.
if [[ $(node -p 'Boolean(require("./package.json").tap?.exclude)' 2>/dev/null) != true ]]; then
  tap_opts+=("--exclude=**/@(fixture*(s)|dist|helpers)/**")
fi

orphan_watchdog &
WATCHDOG_PID=$!
t=$EPOCHREALTIME
# (the SDK's "node >= 22 after January 2027" warning would repeat in every test process)
FLUID_S3_FUSE_TEST_ROOT=$TEST_ROOT AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
  npx --no-install tap "${tap_opts[@]}" "${args[@]}" | tee "$TAP_LOG"
TAP_RC=${PIPESTATUS[0]}
T_TAP=$(since "$t")
kill "$WATCHDOG_PID" 2>/dev/null; wait "$WATCHDOG_PID" 2>/dev/null; WATCHDOG_PID=
exit "$TAP_RC"   # the EXIT trap cleans up and prints the summary line
