#!/usr/bin/env bash
# Benchmark lines of several commits side by side in one run, alternating, so the machine's load weighs on each alike:
#   bash service/bench/side-by-side.sh "BENCH_QUIET=1:1000 :1000 BENCH_SECONDS=6:pg-1000" bd7e058 b07aead HEAD
# Each line is ENV:LINE (ENV may be empty); each commit is checked out into a temp worktree and built there
# (node_modules shared with this checkout). Prints one row per commit, line and round (two rounds).
set -euo pipefail
lines=$1; shift
root=$(git rev-parse --show-toplevel)
declare -A tree
for rev in "$@"; do
  dir=$(mktemp -d /tmp/bench-tree-XXXX)
  git -C "$root" worktree add -f --detach "$dir" "$rev" >/dev/null 2>&1
  ln -s "$root/node_modules" "$dir/node_modules"
  (cd "$dir" && node build-service.mjs --quiet)
  tree[$rev]=$dir
done
trap 'for d in "${tree[@]}"; do git -C "$root" worktree remove --force "$d"; done' EXIT
for round in 1 2; do
  for spec in $lines; do
    for rev in "$@"; do
      (cd "${tree[$rev]}" && env ${spec%%:*} node dist/service/bench.js "${spec#*:}" 2>&1 \
        | grep -E '^\| (accept|one|ten|webhook|PostgreSQL)' | cut -d'|' -f2-5 | sed "s/^/$rev ${spec} round $round |/") || true
    done
  done
done
