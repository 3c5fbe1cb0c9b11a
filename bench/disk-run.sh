#!/usr/bin/env bash
# bench/disk-run.sh [--rev COMMIT] [--quick] [--slow-link [--rtt 20ms] [--per-conn 20MB/s]]
#                   [--runs N] [--clients ours,s3fs,rclone]
#
# The disk-cache benchmark of issue 13 in one command (see "Disk cache (issue 13)" in
# bench/README.md): installs what is missing, builds our client from COMMIT (default: HEAD when
# the script starts; git archive, built aside with tsc, because others edit src/ meanwhile),
# starts one Ceph RGW, loads the epoch data set, and for two disk-cache budgets reads two epochs
# on one mount of ours, s3fs (use_cache) and rclone (--vfs-cache-mode full); writes
# bench/results/2026-12-02-disk-<lan|slow>[-quick].md.
#
# Runs as root (apt-get, mounts, drop_caches). Whatever happens to the Node process, the EXIT
# trap of bench/lib/setup.sh leaves no mount, no client process, no proxy and no RGW behind.
set -euo pipefail

# One function, parsed whole before it runs; what the bench scripts share is in bench/lib/setup.sh.
main() {
  # --rev: default HEAD when the script starts; after a failure, keep the logs but not the
  # caches (GiBs)
  BENCH_PKGS=(s3fs rclone)
  BENCH_DROP=(caches app)
  bench_main disk-run.mjs HEAD fluid-dbench "$@"
}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lib/setup.sh"
bench_init disk-run.sh "$ROOT"
main "$@"
