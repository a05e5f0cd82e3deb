# Thin targets over cargo and scripts/; see README.md.
.PHONY: test bench services helm-check fmt lint demo

## The whole pipeline against the built-in simulator, embedded: no services needed.
demo:
	cargo run --locked --bin backfill -- demo

## Every test of the workspace; starts Redis and PostgreSQL when they are not running.
test:
	scripts/test.sh

## The Helm chart and manifests, validated offline (part of `make test`).
helm-check:
	scripts/helm-check.sh

## Redis and PostgreSQL for local work, as the tests use them.
services:
	scripts/services.sh

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## The benchmarks (not part of `make test`): figures into target/bench/results.json and a
## table; what each measures is in docs/benchmarks.md.
bench:
	scripts/bench.sh
