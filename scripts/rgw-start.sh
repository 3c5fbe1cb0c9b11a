#!/usr/bin/env bash
# scripts/rgw-start.sh DATA_DIR [PORT]
#
# Start a throw-away S3 server on 127.0.0.1: a one-node Ceph cluster (1 mon, 1 memstore
# OSD, no mgr, no cephx) plus the RADOS Gateway (radosgw, S3 API) on 127.0.0.1:PORT.
# It creates one S3 user, pre-creates RGW's pools (warm-up) and waits until signed S3
# requests work.  Takes ~3 s on a 2-core VM.  Stop it with scripts/rgw-stop.sh DATA_DIR.
#
#   DATA_DIR   created if missing; must be empty or a previous DATA_DIR of this script.
#              Holds ceph.conf, the mon store, logs (log/), sockets, and:
#                s3.env  S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
#                        CEPH_CONF  (KEY=value lines: `set -a; . DATA_DIR/s3.env; set +a`).
#                        AWS_ENDPOINT_URL is deliberately not set, so that code which
#                        forgets to pass the endpoint fails instead of working by accident.
#                pids    "PID NAME" per daemon, in start order (read by rgw-stop.sh)
#   PORT       S3 port.  Default: 7480, or the first free port above it when 7480 is busy.
#              An explicit PORT that is busy is an error.
#
# stdout: the endpoint (http://127.0.0.1:PORT), one line.  Progress goes to stderr.
# Objects live only in the OSD's RAM (about 2x the bytes stored) and vanish on stop.
#
# Env overrides:
#   MEMSTORE_MB      OSD capacity in MiB, allocated on demand (default 4096).  When it is
#                    full, S3 writes hang without an error: size it for the workload.
#   S3_UID S3_ACCESS_KEY S3_SECRET_KEY    default test / testkey / testsecret
#   MON_PORT         mon port (msgr2 only); default: first free port from 3300
#   OSD_PORT_MIN OSD_PORT_MAX   OSD bind range, default 6800-7300 (PORT must be outside)
#   START_TIMEOUT    seconds to wait for each stage (default 120)
#   WARMUP=0         skip the warm-up (then the first CreateBucket / PutObject / multipart
#                    upload each stall 1-3 s while RGW creates its pools)
#   KEEP_ON_FAIL=1   leave the daemons running when start-up fails (debugging)
#   EXTRA_CONF       text appended to ceph.conf, e.g. $'[client.rgw.a]\ndebug rgw = 20'
#
# Missing Debian packages are installed by scripts/install-deps.sh --system-only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 DATA_DIR [PORT]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
DATA=$1
PORT=${2:-}
MEMSTORE_MB=${MEMSTORE_MB:-4096}
S3_UID=${S3_UID:-test}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-testkey}
S3_SECRET_KEY=${S3_SECRET_KEY:-testsecret}
START_TIMEOUT=${START_TIMEOUT:-120}
OSD_PORT_MIN=${OSD_PORT_MIN:-6800}
OSD_PORT_MAX=${OSD_PORT_MAX:-7300}
WARMUP=${WARMUP:-1}
T0=$EPOCHREALTIME

log() { printf "[rgw-start %6ss] %s\n" "$(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN{printf "%.2f", a-b}')" "$*" >&2; }
die() { echo "rgw-start: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- packages
for cmd in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen curl ss; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    log "$cmd not found: installing Debian packages"
    bash "$HERE/install-deps.sh" --system-only
    break
  fi
done

# ---------------------------------------------------------------- ports
port_busy() { [[ -n $(ss -Hltn "sport = :$1") ]]; }
in_osd_range() { (( $1 >= OSD_PORT_MIN && $1 <= OSD_PORT_MAX )); }
if [[ -n $PORT ]]; then
  [[ $PORT =~ ^[0-9]+$ ]] && (( PORT > 0 && PORT < 65536 )) || die "bad port '$PORT'"
  in_osd_range "$PORT" && die "port $PORT lies in the OSD bind range $OSD_PORT_MIN-$OSD_PORT_MAX; pick another port or set OSD_PORT_MIN/OSD_PORT_MAX"
  port_busy "$PORT" && die "port $PORT is already in use on this host"
else
  PORT=7480
  while port_busy "$PORT" || in_osd_range "$PORT"; do
    PORT=$((PORT + 1))
    (( PORT < 65536 )) || die "no free port found for radosgw"
  done
  [[ $PORT == 7480 ]] || log "port 7480 is busy; using $PORT"
fi

# ---------------------------------------------------------------- data dir
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
if [[ -f $DATA/pids ]]; then
  while read -r pid name; do
    if [[ -n ${pid:-} ]] && kill -0 "$pid" 2>/dev/null && grep -qF "$DATA/ceph.conf" "/proc/$pid/cmdline" 2>/dev/null; then
      die "$name (pid $pid) from a previous run in $DATA is still running; run rgw-stop.sh $DATA first"
    fi
  done < "$DATA/pids"
fi
if [[ -n $(ls -A "$DATA") ]]; then
  # never wipe a directory this script did not create
  [[ -f $DATA/.throwaway-ceph-rgw ]] || die "$DATA is not empty and was not created by this script"
  find "$DATA" -mindepth 1 -delete
fi
touch "$DATA/.throwaway-ceph-rgw"
mkdir -p "$DATA"/{log,run,crash,mon.a,osd.0,rgw.a}
: > "$DATA/pids"
CONF=$DATA/ceph.conf

if [[ -z ${MON_PORT:-} ]]; then
  MON_PORT=3300
  while port_busy "$MON_PORT" || (( MON_PORT == PORT )) || in_osd_range "$MON_PORT"; do MON_PORT=$((MON_PORT + 1)); done
fi
port_busy "$MON_PORT" && die "mon port $MON_PORT is already in use"

# ---------------------------------------------------------------- ceph.conf
FSID=$(uuidgen)
cat > "$CONF" <<EOF
# generated by fluid-s3-fuse scripts/rgw-start.sh: throw-away one-node cluster, NO authentication
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv6 = false
ms bind port min = $OSD_PORT_MIN
ms bind port max = $OSD_PORT_MAX
auth cluster required = none
auth service required = none
auth client required = none
# radosgw defaults to ms_mon_client_mode=secure, impossible without cephx: it would hang at start
ms mon client mode = crc secure
keyring = /dev/null
# one OSD: pools of size 1, few PGs, no autoscaler, no redundancy warnings
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1
# faster map updates (pool creation, OSD boot) on a one-mon cluster
paxos propose interval = 0.05
paxos min wait = 0.01
run dir = $DATA/run
admin socket = $DATA/run/\$name.asok
pid file = $DATA/run/\$name.pid
log file = $DATA/log/\$name.log
mon cluster log file = $DATA/log/cluster.log
crash dir = $DATA/crash
[mon]
mon data = $DATA/mon.\$id
[osd]
osd data = $DATA/osd.\$id
# objects in RAM only
osd objectstore = memstore
memstore device bytes = $((MEMSTORE_MB * 1024 * 1024))
[client.rgw.a]
rgw data = $DATA/rgw.a
# tcp_nodelay: without it every small response costs 40-60 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
# no lifecycle (expiration) processing: not needed for tests, and its thread sleeps in 5 s
# steps that radosgw waits out on SIGTERM (stop took 4-10 s instead of 0.1 s)
rgw enable lc threads = false
# reclaim deleted/overwritten tail objects quickly (memstore keeps them in RAM)
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF
[[ -z ${EXTRA_CONF:-} ]] || printf '%s\n' "$EXTRA_CONF" >> "$CONF"

# ---------------------------------------------------------------- helpers
ours() { [[ -n ${1:-} ]] && grep -qF "$CONF" "/proc/$1/cmdline" 2>/dev/null; }
start_daemon() {  # NAME BINARY ARGS...   (own session: a Ctrl-C meant for a caller does not hit it)
  local name=$1; shift
  setsid "$@" -f -c "$CONF" > "$DATA/log/$name.out" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid $name" >> "$DATA/pids"
  log "started $name pid $pid"
}
cleanup_on_fail() {
  local rc=$?
  (( rc == 0 )) && return
  echo "rgw-start: FAILED (rc=$rc); logs in $DATA/log/" >&2
  for f in "$DATA"/log/*.out; do [[ -s $f ]] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
  if [[ ${KEEP_ON_FAIL:-0} != 1 ]]; then
    # stop what we started, newest first, by PID (SIGTERM, SIGKILL after 10 s)
    local pid name i
    while read -r pid name; do
      ours "$pid" || continue
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do ours "$pid" || break; sleep 0.1; done
      ours "$pid" && kill -KILL "$pid" 2>/dev/null
      echo "rgw-start: stopped $name (pid $pid)" >&2
    done < <(tac "$DATA/pids")
  fi
}
trap cleanup_on_fail EXIT
trap 'exit 130' INT TERM
wait_for() {  # DESCRIPTION COMMAND...   poll every 0.1 s; fail early when a daemon died
  local what=$1; shift
  local deadline=$(( $(date +%s) + START_TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || die "timed out after ${START_TIMEOUT}s waiting for $what"
    while read -r pid name; do
      kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) died while waiting for $what; see $DATA/log/$name.out and $DATA/log/*.log"
    done < "$DATA/pids"
    sleep 0.1
  done
  log "$what: ok"
}
pid_of() { awk -v n="$1" '$2 == n { print $1 }' "$DATA/pids"; }
check_listener() {  # NAME PORT: the listener on PORT must be our daemon, not a concurrent run's
  local pid; pid=$(pid_of "$1")
  ss -Hltnp "sport = :$2" | grep -q "pid=$pid," \
    || die "port $2 is not served by our $1 (pid $pid): another process took it meanwhile; retry"
}
CEPH=(ceph -c "$CONF" --connect-timeout 10)

# ---------------------------------------------------------------- mon
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DATA/monmap" >/dev/null
ceph-mon -c "$CONF" -i a --mkfs --monmap "$DATA/monmap" > "$DATA/log/mon-mkfs.out" 2>&1
start_daemon mon.a ceph-mon -i a
wait_for "mon quorum" "${CEPH[@]}" mon stat
check_listener mon.a "$MON_PORT"

# ---------------------------------------------------------------- osd
OSD_UUID=$(uuidgen)
OSD_ID=$("${CEPH[@]}" osd new "$OSD_UUID")
[[ $OSD_ID == 0 ]] || die "unexpected osd id '$OSD_ID'"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" > "$DATA/log/osd-mkfs.out" 2>&1
start_daemon osd.0 ceph-osd -i 0
osd_up() { "${CEPH[@]}" osd dump 2>/dev/null | grep -q '^osd\.0 up'; }
wait_for "osd.0 up" osd_up

# ---------------------------------------------------------------- rgw
start_daemon rgw.a radosgw -n client.rgw.a
ENDPOINT=http://127.0.0.1:$PORT
wait_for "radosgw HTTP" curl -sf -o /dev/null "$ENDPOINT/"
check_listener rgw.a "$PORT"

radosgw-admin -c "$CONF" user create --uid="$S3_UID" --display-name="$S3_UID" \
  --access-key="$S3_ACCESS_KEY" --secret="$S3_SECRET_KEY" > "$DATA/log/user-create.out" 2>&1 \
  || die "radosgw-admin user create failed: $(tail -3 "$DATA/log/user-create.out")"
S3CURL=(curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY"
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
wait_for "signed S3 ListBuckets" "${S3CURL[@]}" -o /dev/null "$ENDPOINT/"

if [[ $WARMUP == 1 ]]; then
  # The first bucket / object / multipart upload make RGW create its index, data and
  # non-ec pools (1-3 s each); do it now so that tests do not see the stall.
  wb="warmup-$(date +%s)-$$"
  "${S3CURL[@]}" -o /dev/null -X PUT "$ENDPOINT/$wb" || die "warm-up CreateBucket failed"
  "${S3CURL[@]}" -o /dev/null -X PUT --data-binary warm "$ENDPOINT/$wb/o" || die "warm-up PutObject failed"
  up=$("${S3CURL[@]}" -X POST "$ENDPOINT/$wb/m?uploads=" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
  [[ -n $up ]] || die "warm-up CreateMultipartUpload failed"
  "${S3CURL[@]}" -o /dev/null -X DELETE "$ENDPOINT/$wb/m?uploadId=$up" || die "warm-up AbortMultipartUpload failed"
  "${S3CURL[@]}" -o /dev/null -X DELETE "$ENDPOINT/$wb/o" || die "warm-up DeleteObject failed"
  "${S3CURL[@]}" -o /dev/null -X DELETE "$ENDPOINT/$wb" || die "warm-up DeleteBucket failed"
  log "warm-up (rgw pools created): ok"
fi

cat > "$DATA/s3.env" <<EOF
S3_ENDPOINT=$ENDPOINT
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
AWS_REGION=us-east-1
CEPH_CONF=$CONF
EOF
trap - EXIT INT TERM
log "S3 ready at $ENDPOINT (access key $S3_ACCESS_KEY); env in $DATA/s3.env; stop with scripts/rgw-stop.sh $DATA"
echo "$ENDPOINT"
