#!/usr/bin/env bash
# The policy crate does no I/O (docs/ARCHITECTURE.md): nothing that could do it may
# enter its dependency tree.
set -euo pipefail
forbidden='^(tokio|redis|sqlx|sqlx-core|reqwest|hyper|apalis|mio) '
found=$(cargo tree -p backfill-policy -e normal,build --prefix none | sort -u | grep -E "$forbidden" || true)
if [[ -n $found ]]; then
  echo "backfill-policy must not depend on I/O crates, but its tree has:" >&2
  echo "$found" >&2
  exit 1
fi
echo "policy purity: backfill-policy's dependency tree has no tokio, redis, sqlx, reqwest, hyper"
