#!/usr/bin/env bash
# bench/write-run.sh [--rev COMMIT] [--quick] [--slow-link --rtt 20ms --per-conn 20MB/s] [--clients ours,s3fs,rclone] [--only seq,cp,tar,rsync,rss]
#
# The write benchmark of issue 12 in one command (see "Writes (issue 12)" in bench/README.md):
# installs what is missing, builds our client from COMMIT (default: HEAD when the script
# starts; git archive, built aside with tsc, because others edit src/ meanwhile), starts one
# Ceph RGW, runs the raw SDK multipart ceiling and every write workload on ours, s3fs and
# rclone (writable mounts), and writes bench/results/2026-12-02-writes-<lan|slow>[-quick].md.
#
# Runs as root (apt-get, mounts, sync). Whatever happens to the Node process, the EXIT trap of
# bench/lib/setup.sh leaves no mount, no client process and no RGW behind.
set -euo pipefail

# What the three bench scripts share (install, build, the EXIT trap) is in bench/lib/setup.sh;
# main is one function, parsed whole before it runs.
main() {
  # --rev: default HEAD when the script starts; after a failure, keep the logs but not the big
  # inputs and caches
  BENCH_PKGS=(s3fs rclone rsync tar)
  BENCH_DROP=(src rclone-cache app)
  bench_main write-run.mjs HEAD fluid-wbench "$@"
}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lib/setup.sh"
bench_init write-run.sh "$ROOT"
main "$@"
