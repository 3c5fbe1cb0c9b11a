#!/usr/bin/env bash
# scripts/demo.sh     -- THE demo command (README)
#
# The seed article's MinIO demo (see SEED-DEMO in the design notes), on one machine, with
# fluid-s3-fuse in place of goofys + fluid-config-parse.py + mount-minio.sh:
#
#   seed (Kubernetes + Fluid)                          here
#   MinIO service `minio:9000`, minioadmin/minioadmin  Ceph RGW on 127.0.0.1:9000 (any free port
#                                                        if 9000 is busy), user minioadmin/minioadmin
#   bucket my-first-bucket, object testfile            the same, created with curl --aws-sigv4
#   Secret minio-secret + Dataset + ThinRuntime        /etc/fluid/config/config.json (the shape
#     -> Fluid writes /etc/fluid/config/config.json      Fluid >= 1.0.3 writes) and the secret
#        and projects the secret into                    files in Kubernetes' layout (..data
#        /etc/fluid/secrets/minio-secret/                symlink), bind-mounted over /etc/fluid
#   FUSE container: `node dist/src/cli.js`, no args,   the same, MOUNT_POINT=targetPath in env
#     MOUNT_POINT env                                    targetPath under $DEMO_DIR
#   Fluid's readiness check: targetPath in mountinfo    the same, within 30 s
#   app pod: ls -lh /data && cat /data/testfile         ls -lh targetPath && cat targetPath/testfile
#   clean-up: preStop/SIGTERM                           Ctrl-C: SIGTERM to the agent, stop RGW
#
# A real /etc/fluid is never touched: everything runs in a private mount namespace
# (`unshare -m`), where $DEMO_DIR/etc-fluid is bind-mounted (read-only) over /etc/fluid.  The
# FUSE mount lives in that namespace too, so it is invisible from other shells; the listing is
# printed from inside.  When /etc/fluid does not exist, an empty directory is created as the
# mount point and removed afterwards.
#
# Usage: bash scripts/demo.sh            (keeps the mount until Ctrl-C when run in a terminal)
#        DEMO_EXIT=1 bash scripts/demo.sh  (or stdin not a terminal: exit right after printing)
# Env:   DEMO_DIR (default /tmp/fluid-s3-fuse-demo: config, secrets, agent.log, the mount point)
#        DEMO_PORT (default 9000, else any free port), SKIP_DEPS=1 (skip install-deps.sh)
# Exit:  0 when the file was read back through the mount and the agent exited 0 on SIGTERM.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-/tmp/fluid-s3-fuse-demo}
BUCKET=my-first-bucket
ACCESS_KEY=minioadmin
SECRET_KEY=minioadmin

if [[ -t 2 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N" >&2; }
log() { echo "[demo] $*" >&2; }
die() { echo "[demo] ERROR: $*" >&2; exit 1; }

# ================================================================ outside the namespace
if [[ ${_FLUID_S3_FUSE_DEMO_NS:-} != 1 ]]; then
  (( EUID == 0 )) || die "run as root (FUSE mount, mount namespace, Debian packages)"
  if [[ ${SKIP_DEPS:-0} != 1 ]]; then
    say "install-deps.sh (Debian packages, npm ci, build)"
    bash "$ROOT/scripts/install-deps.sh"
  fi
  [[ -f $ROOT/dist/src/cli.js ]] || die "dist/src/cli.js is missing: the build failed?"
  command -v unshare >/dev/null || die "unshare (util-linux) not found"
  [[ -c /dev/fuse ]] || die "/dev/fuse is missing (in a container: --device /dev/fuse --cap-add SYS_ADMIN)"

  created_etc_fluid=0
  if [[ ! -e /etc/fluid ]]; then
    mkdir /etc/fluid          # an empty mount point; the real /etc/fluid stays as it was
    created_etc_fluid=1
  elif [[ ! -d /etc/fluid || -L /etc/fluid ]]; then
    die "/etc/fluid exists but is not a directory"
  fi
  # The demo body runs in the background so that this shell can pass Ctrl-C / SIGTERM on (as
  # SIGTERM: a background job ignores SIGINT) and still remove /etc/fluid afterwards.  stdin is
  # passed explicitly (a background job would get /dev/null) for the "is it a terminal" test.
  _FLUID_S3_FUSE_DEMO_NS=1 unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "$@" 0<&0 &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
  while :; do
    wait "$child" && rc=0 || rc=$?
    kill -0 "$child" 2>/dev/null || break   # wait was only interrupted by a signal
  done
  if (( created_etc_fluid )); then
    rmdir /etc/fluid 2>/dev/null || log "note: could not remove the empty /etc/fluid this script created"
  fi
  exit "$rc"
fi

# ================================================================ inside the namespace
RGW_DIR=$DEMO_DIR/rgw
ETC=$DEMO_DIR/etc-fluid                           # becomes /etc/fluid
TARGET=$DEMO_DIR/runtime-mnt/thin/default/minio-demo/thin-fuse
AGENT_LOG=$DEMO_DIR/agent.log
AGENT_PID=
RGW_STARTED=0
RESULT=1      # 0 once testfile was read back through the mount
KEEPING=0     # 1 while the mount is kept for the user: a Ctrl-C then is the normal end

mounted_fstype() {  # fs type of the mount at exactly $1, from this namespace's mountinfo
  awk -v t="$1" '$5 == t { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1); exit } }' /proc/self/mountinfo
}
agent_alive() { [[ -n $AGENT_PID ]] && kill -0 "$AGENT_PID" 2>/dev/null; }

cleanup() {
  local rc=$? i code
  trap - EXIT INT TERM
  set +e
  if agent_alive; then
    say "stopping the agent (SIGTERM, as Fluid does after preStop)"
    kill -TERM "$AGENT_PID"
    for ((i = 0; i < 300; i++)); do agent_alive || break; sleep 0.1; done
    if agent_alive; then
      log "agent still running after 30 s: SIGKILL"; kill -KILL "$AGENT_PID"; rc=1
    fi
    wait "$AGENT_PID" 2>/dev/null; code=$?
    log "agent exited with code $code"
    (( code == 0 )) || rc=1
  fi
  if [[ -n $(mounted_fstype "$TARGET") ]]; then
    log "the mount is still there after the agent stopped: unmounting it lazily"
    umount -l "$TARGET" 2>/dev/null || fusermount -uz "$TARGET" 2>/dev/null
    rc=1
  else
    [[ -n $AGENT_PID ]] && log "$TARGET is unmounted"
  fi
  if (( RGW_STARTED )); then
    bash "$ROOT/scripts/rgw-stop.sh" "$RGW_DIR" --purge 2>/dev/null || log "WARNING: rgw-stop.sh failed"
    log "RGW stopped"
  fi
  umount /etc/fluid 2>/dev/null   # the namespace is about to vanish anyway
  [[ -f $AGENT_LOG ]] && log "agent log: $AGENT_LOG"
  (( rc == 0 && RESULT == 0 )) && log "demo OK" || { log "demo FAILED"; (( rc )) || rc=1; }
  exit "$rc"
}
trap cleanup EXIT
on_signal() {
  echo >&2
  if (( KEEPING )); then exit 0; fi
  log "interrupted"; exit 130
}
trap on_signal INT TERM

# ---------------------------------------------------------------- demo dir
# Start from scratch, but never delete through a mount or a directory we did not make.
if [[ -d $DEMO_DIR ]]; then
  awk -v d="$DEMO_DIR" 'index($5, d "/") == 1 || $5 == d { found = 1 } END { exit !found }' /proc/self/mountinfo \
    && die "something is mounted under $DEMO_DIR; unmount it first"
  [[ -f $DEMO_DIR/.fluid-s3-fuse-demo || -z $(ls -A "$DEMO_DIR") ]] \
    || die "$DEMO_DIR exists and was not made by this script; set DEMO_DIR"
  if [[ -f $RGW_DIR/pids ]]; then bash "$ROOT/scripts/rgw-stop.sh" "$RGW_DIR" >/dev/null 2>&1 || true; fi
  rm -rf -- "$DEMO_DIR"
fi
mkdir -p "$DEMO_DIR"
touch "$DEMO_DIR/.fluid-s3-fuse-demo"

# ---------------------------------------------------------------- 1. "MinIO" (our RGW)
say "1. S3 server (Ceph RGW standing in for the seed's MinIO)"
port=${DEMO_PORT:-9000}
if [[ -n $(ss -Hltn "sport = :$port") ]]; then
  log "port $port is busy; letting rgw-start.sh pick a free one"
  port=
fi
RGW_STARTED=1
ENDPOINT=$(S3_ACCESS_KEY=$ACCESS_KEY S3_SECRET_KEY=$SECRET_KEY bash "$ROOT/scripts/rgw-start.sh" "$RGW_DIR" ${port:+"$port"})
log "S3 endpoint: $ENDPOINT (user $ACCESS_KEY)"

S3CURL=(curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY"
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
"${S3CURL[@]}" -o /dev/null -X PUT "$ENDPOINT/$BUCKET"
# like `echo fluid-minio-test > testfile; mc cp testfile minio/my-first-bucket/`
printf 'fluid-minio-test\n' | "${S3CURL[@]}" -o /dev/null -X PUT --data-binary @- "$ENDPOINT/$BUCKET/testfile"
log "created bucket $BUCKET with object testfile ($("${S3CURL[@]}" "$ENDPOINT/$BUCKET/testfile" | tr -d '\n'))"

# ---------------------------------------------------------------- 2. what Fluid would write
say "2. Fluid's files: /etc/fluid/config/config.json and the projected secret minio-secret"
mkdir -p "$ETC/config" "$ETC/secrets/minio-secret"
# the seed's config (Fluid >= 1.0.3 shape), minio-url and targetPath adapted to this machine
cat > "$ETC/config/config.json" <<EOF
{"mounts":[{"mountPoint":"minio://$BUCKET","options":{"minio-access-key":"/etc/fluid/secrets/minio-secret/minio-access-key","minio-access-secret":"/etc/fluid/secrets/minio-secret/minio-access-secret","minio-url":"$ENDPOINT"},"name":"minio"}],"targetPath":"$TARGET","accessModes":["ReadOnlyMany"]}
EOF
# Kubernetes' atomic-writer layout: a timestamped dir, `..data` -> it, and one symlink per key
# into `..data/` (a secret rotation swaps `..data`).  Values carry no trailing newline.
sec=$ETC/secrets/minio-secret
ts=..$(date -u +%Y_%m_%d_%H_%M_%S.%N)
mkdir "$sec/$ts"
printf '%s' "$ACCESS_KEY" > "$sec/$ts/minio-access-key"
printf '%s' "$SECRET_KEY" > "$sec/$ts/minio-access-secret"
chmod 0644 "$sec/$ts"/*
ln -s "$ts" "$sec/..data"
ln -s ..data/minio-access-key "$sec/minio-access-key"
ln -s ..data/minio-access-secret "$sec/minio-access-secret"

mount --bind "$ETC" /etc/fluid
# Fluid's ConfigMap / Secret volumes are read-only
mount -o remount,bind,ro /etc/fluid || log "note: could not make /etc/fluid read-only (continuing)"
log "/etc/fluid (in this mount namespace only) is $ETC:"
(cd /etc/fluid && find . -mindepth 1 | sort | while read -r p; do
   if [[ -L $p ]]; then echo "  $p -> $(readlink "$p")"; else echo "  $p"; fi
 done) >&2
log "config.json: $(cat /etc/fluid/config/config.json)"

# ---------------------------------------------------------------- 3. the FUSE container
say "3. the agent, started as the ThinRuntime FUSE container would (no args, MOUNT_POINT env)"
# A clean environment: credentials and endpoint must come from Fluid's files, not from our shell.
: > "$AGENT_LOG"
(cd / && exec setsid env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
   -u AWS_PROFILE -u AWS_ENDPOINT_URL -u AWS_REGION -u AWS_DEFAULT_REGION -u S3_ENDPOINT \
   -u MOUNT_OPTIONS -u FLUID_S3_FUSE_SECRETS_ROOT MOUNT_POINT="$TARGET" \
   node "$ROOT/dist/src/cli.js" >> "$AGENT_LOG" 2>&1 < /dev/null) &
AGENT_PID=$!
log "agent pid $AGENT_PID; log: $AGENT_LOG"

# Fluid's readiness check: a mountinfo line with targetPath (and the profile's fileSystemType
# `fuse` as a substring) within 30 s
t0=$SECONDS t0r=$EPOCHREALTIME
until fstype=$(mounted_fstype "$TARGET") && [[ -n $fstype ]]; do
  if ! agent_alive; then
    wait "$AGENT_PID" 2>/dev/null && code=0 || code=$?
    AGENT_PID=
    log "the agent exited (code $code) before mounting; its output:"
    sed 's/^/  | /' "$AGENT_LOG" >&2
    exit 1
  fi
  if (( SECONDS - t0 >= 30 )); then
    log "not mounted after 30 s (Fluid would fail the pod); agent output so far:"
    sed 's/^/  | /' "$AGENT_LOG" >&2
    exit 1
  fi
  sleep 0.1
done
[[ $fstype == *fuse* ]] || log "WARNING: fs type '$fstype' does not contain 'fuse' (ThinRuntimeProfile fileSystemType)"
log "mounted after $(awk -v a="$EPOCHREALTIME" -v b="$t0r" 'BEGIN{printf "%.2f", a-b}') s: $(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo)"

# ---------------------------------------------------------------- 4. the application
say "4. the app pod's command: ls -lh /data && cat /data/testfile   (/data = targetPath)"
# in child processes with a time limit: a broken mount must not hang the demo
echo "\$ ls -lh $TARGET"
timeout -k 5 20 ls -lh "$TARGET"
echo "\$ cat $TARGET/testfile"
content=$(timeout -k 5 20 cat "$TARGET/testfile")
echo "$content"
if [[ $content == fluid-minio-test ]]; then RESULT=0; else log "unexpected content: '$content'"; fi

# ---------------------------------------------------------------- 5. keep it, or clean up
if [[ -t 0 && ${DEMO_EXIT:-0} != 1 ]]; then
  say "mounted at $TARGET (visible inside this demo's mount namespace only; try:"
  log "  nsenter -t $AGENT_PID -m ls -l $TARGET )"
  log "press Ctrl-C to unmount and stop"
  KEEPING=1
  while agent_alive; do sleep 1; done   # Ctrl-C (forwarded as SIGTERM) -> on_signal -> cleanup
  KEEPING=0
  log "the agent exited by itself:"; sed 's/^/  | /' "$AGENT_LOG" | tail -20 >&2
  AGENT_PID=
  exit 1
fi
exit 0
