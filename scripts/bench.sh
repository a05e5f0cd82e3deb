#!/usr/bin/env bash
# `make bench`: the benchmarks of issue 9 (docs/benchmarks.md). Makes sure Redis and
# PostgreSQL answer (scripts/services.sh), installs the BullMQ side's npm packages
# (bullmq, ioredis, pg) into bench/bullmq/node_modules, builds the release binary,
# runs every benchmark, writes target/bench/results.json and prints the table.
#
# Extra arguments go to backfill-bench, e.g. `scripts/bench.sh --only calls,slice`.
# The benchmarks measure and report: the script fails only when one could not run.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/services.sh)"

if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
  echo "bench: installing the BullMQ side's packages (bench/bullmq)" >&2
  # package-lock.json pins what was measured; a second install is a quick no-op.
  (cd bench/bullmq && npm install --no-audit --no-fund --loglevel=error >&2)
else
  echo "bench: node and npm are not installed: vs_bullmq cannot run (null in the results, and the run ends in an error)" >&2
fi

echo "bench: building the release binary" >&2
cargo build --release -p backfill-bench >&2
target_dir=${CARGO_TARGET_DIR:-target}

mkdir -p target/bench
"$target_dir/release/backfill-bench" --out target/bench/results.json --bullmq-dir bench/bullmq "$@"
