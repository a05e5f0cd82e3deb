#!/usr/bin/env bash
# Bad input (issue 9): schemathesis generates requests from the producer's own
# `/openapi.json` — valid, invalid and strange — and checks that none is answered with a
# 5xx. Runs a real `backfill producer` on Redis and a database of its own; part of
# `make test`. Prints a closing "api-fuzz: N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh)"

target=${CARGO_TARGET_DIR:-target}
tools="$target/tools"
venv="$tools/st-venv"
if [[ ! -x $venv/bin/schemathesis ]]; then
  echo "api-fuzz: installing schemathesis 4.32.5 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis==4.32.5
fi
cargo build -q --bin backfill

work=$(mktemp -d)
db="backfill_fuzz_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key="fuzz-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
admin=$BACKFILL_TEST_DATABASE_URL
psql "$admin" -qc "CREATE DATABASE $db" >/dev/null
cleanup() {
  [[ -n ${producer:-} ]] && kill "$producer" 2>/dev/null && wait "$producer" 2>/dev/null
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/backfill.toml" <<TOML
[store]
url = "${admin%/*}/$db"
[redis]
url = "$BACKFILL_TEST_REDIS_URL"
[queue]
name = "fuzz:$$:steps"
[secrets]
credential_key = "$(head -c 32 /dev/urandom | base64)"
[api]
listen = "127.0.0.1:$port"
[[tenants]]
id = "fuzz"
name = "Fuzz tenant"
api_key = "$key"
TOML

"$target/debug/backfill" producer --config "$work/backfill.toml" > "$work/producer.log" 2>&1 &
producer=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

status=0
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error \
  --header "Authorization: Bearer $key" \
  --max-examples 25 --workers 2 --request-timeout 10 \
  > "$work/schemathesis.log" 2>&1 || status=$?
tail -n 25 "$work/schemathesis.log"
if [[ $status -eq 0 ]]; then
  echo "api-fuzz: 1 passed, 0 failed"
else
  echo "api-fuzz: the producer answered a generated request with a 5xx (above); producer log:"
  tail -n 40 "$work/producer.log"
  echo "api-fuzz: 0 passed, 1 failed"
  exit 1
fi
