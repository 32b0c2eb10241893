#!/usr/bin/env bash
# Runs a command while a noisy neighbour writes to the disk: 64 MB written with fsync, half a second of quiet, over
# and over, in the temp dir (where the bench keeps its databases). Shows how the senders hold up when their commits
# wait behind someone else's writes, as on a shared cloud disk. For example:
#   bash service/bench/disk-noise.sh bash service/bench/side-by-side.sh ":1000 BENCH_SECONDS=8:pg-1000" 8717189 HEAD
set -euo pipefail
noise=$(mktemp -d "${TMPDIR:-/tmp}/disk-noise-XXXX")
(while :; do dd if=/dev/zero of="$noise/noise.bin" bs=4M count=16 conv=fsync 2>/dev/null; sleep 0.5; done) &
writer=$!
trap 'kill $writer 2>/dev/null || true; wait $writer 2>/dev/null || true; rm -rf "$noise"' EXIT
"$@"
