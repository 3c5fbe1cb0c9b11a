#!/usr/bin/env bash
# scripts/install-deps.sh [--system-only]
#
# Make this machine ready to build, test and demo fluid-s3-fuse.  Idempotent: every
# step is skipped when its result is already there, so a second run takes ~2-5 s
# (most of it `tsc`).
#
#   1. Debian packages (apt-get, only when one is missing):
#        fuse libfuse2                 FUSE 2 userland (fusermount) + the library fuse-native loads
#        radosgw ceph-mon ceph-osd     the throw-away S3 server used by tests and the demo
#        ceph-common ceph-base         (ceph, radosgw-admin, monmaptool)
#        uuid-runtime curl iproute2 psmisc   (uuidgen, curl --aws-sigv4, ss, fuser)
#        rsync sqlite3 git             tools the write tests run unmodified on the mount
#        tini                          the image's PID 1 (ENTRYPOINT tini -g -- node ...): the
#                                      container-contract test starts the agent exactly so
#   2. `npm ci` when node_modules is missing or older than package-lock.json.
#   3. `npm run build` (tsc -> dist/src/cli.js).
#
# --system-only   do step 1 only (used by rgw-start.sh when a Ceph binary is missing).
#
# Needs root for step 1 (CI machines and the dev VMs run as root) and Node >= 20 on PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYSTEM_ONLY=0
case ${1:-} in
  '') ;;
  --system-only) SYSTEM_ONLY=1 ;;
  *) echo "usage: $0 [--system-only]" >&2; exit 2 ;;
esac

log() { echo "[install-deps] $*" >&2; }
die() { echo "[install-deps] ERROR: $*" >&2; exit 1; }

# ------------------------------------------------------------------ 1. Debian packages
PKGS=(fuse libfuse2 radosgw ceph-mon ceph-osd ceph-common ceph-base uuid-runtime curl iproute2 psmisc tini rsync sqlite3 git)
missing=()
for p in "${PKGS[@]}"; do
  # "install ok installed" only; half-installed / config-files states count as missing
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
if (( ${#missing[@]} )); then
  (( EUID == 0 )) || die "missing Debian packages (${missing[*]}); run this script as root"
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
else
  log "Debian packages: all present"
fi
(( SYSTEM_ONLY )) && exit 0

# ------------------------------------------------------------------ 2. node modules
command -v node >/dev/null 2>&1 || die "node not found on PATH (Node >= 20.15 is required)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"
# 20.15: node:zlib's crc32 (the disk cache's block checksum) is imported when the agent loads.
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 15) ? 0 : 1)' ||
  die "Node $(node --version) is too old; Node >= 20.15 is required"

cd "$ROOT"
# npm writes node_modules/.package-lock.json at the end of every successful install, so
# it is the right timestamp to compare: missing -> never (fully) installed.
marker=node_modules/.package-lock.json
if [[ ! -d node_modules || ! -f $marker || package-lock.json -nt $marker ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
else
  log "node_modules: up to date"
fi

# ------------------------------------------------------------------ 3. build
log "npm run build"
npm run --silent build >&2 || die "npm run build failed (see the tsc errors above)"
[[ -f dist/src/cli.js ]] || log "warning: the build did not produce dist/src/cli.js"
log "done"
