# esp-bench: see README.md. `make bench` and `make test` install what is missing first.
SHELL := /bin/bash
CARGO ?= cargo
SCENARIO ?= scenarios/default.toml
BENCH_BIN := target/release/bench

.PHONY: setup build test bench bench-ingest baseline fmt lint

## setup: PostgreSQL server binaries (apt) + TimescaleDB (built from Debian's source package).
## Idempotent, and quick when everything is present.
setup:
	@scripts/setup.sh

## build: the optimised `bench` binary (benchmarks are only meaningful in release mode).
build:
	$(CARGO) build --release

## test: the whole suite; integration tests start embedded PostgreSQL+TimescaleDB servers.
test: setup
	$(CARGO) test --no-fail-fast

## bench: run the default scenario end to end on an embedded throwaway server.
bench: setup build
	$(BENCH_BIN) run $(SCENARIO)

## bench-ingest: sustained-ingest benchmark (see scripts/bench-ingest.sh).
bench-ingest: setup build
	scripts/bench-ingest.sh

## baseline: refresh the committed baseline report used by the CI regression gate.
baseline: setup build
	scripts/baseline.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
