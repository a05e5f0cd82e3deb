#!/usr/bin/env bash
# `make test`: every test of the workspace, after making sure Redis and PostgreSQL
# answer (scripts/services.sh) and that the policy crate stays free of I/O.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/services.sh)"
scripts/check-policy-purity.sh
scripts/helm-check.sh
scripts/api-fuzz.sh

# nextest runs each test in its own process, in parallel, and ends with one summary
# line; plain cargo test is the fallback where it is not installed.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --profile ci "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
