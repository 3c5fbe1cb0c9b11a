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
# Runs as root (apt-get, mounts, drop_caches). Whatever happens to the Node process, the EXIT trap
# of bench/lib/setup.sh leaves no mount, no client process, no proxy and no RGW behind.
set -euo pipefail

# All in one function: bash parses it whole before running it, so editing this file while a
# bench runs (it takes minutes) cannot make the running copy execute half-read lines. What the
# three bench scripts share (install, build, the EXIT trap) is in bench/lib/setup.sh.
main() {
  # --rev is this script's own flag; everything else goes to run.mjs. No --rev: the work tree.
  BENCH_PKGS=(s3fs rclone fio)
  BENCH_DROP=()
  bench_main run.mjs '' fluid-bench "$@"
}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lib/setup.sh"
bench_init run.sh "$ROOT"
main "$@"
