#!/usr/bin/env bash
# Record a regression-gate baseline: run a scenario and keep its summary.json as
# reports/baselines/<scenario>.json (what `make baseline` does).
#
#   SCENARIO=ci scripts/baseline.sh [extra `bench run` arguments, e.g. --database-url URL]
#
# Environment:
#   SCENARIO             scenario name, read from scenarios/$SCENARIO.toml (default: ci)
#   OUT                  report folder of the run (default: reports/baseline-runs/$SCENARIO)
#   BENCH                how to invoke bench (default: build and run the release binary)
#   ALLOW_FAILED_CHECKS  set to 1 to keep a baseline whose run failed a check (exit 1)
#   DATABASE_URL         read by bench itself; without it an embedded server is used
#
# Record baselines on the same kind of machine that runs the gate: compare warns when cores,
# memory or server versions differ, and the numbers only mean something like for like.
set -euo pipefail

cd "$(dirname "$0")/.."

SCENARIO="${SCENARIO:-ci}"
SCENARIO_FILE="scenarios/${SCENARIO}.toml"
OUT="${OUT:-reports/baseline-runs/${SCENARIO}}"
DEST="reports/baselines/${SCENARIO}.json"

if [[ ! -f "$SCENARIO_FILE" ]]; then
    echo "baseline: no scenario file $SCENARIO_FILE (set SCENARIO to one of: $(ls scenarios 2>/dev/null | sed -n 's/\.toml$//p' | tr '\n' ' '))" >&2
    exit 2
fi

if [[ -n "${BENCH:-}" ]]; then
    # Intentionally split: BENCH may be a command with arguments.
    read -r -a bench_cmd <<<"$BENCH"
else
    cargo build --release --quiet --bin bench
    bench_cmd=(target/release/bench)
fi

mkdir -p "$OUT" "$(dirname "$DEST")"
status=0
"${bench_cmd[@]}" run "$SCENARIO_FILE" --out "$OUT" "$@" || status=$?

case "$status" in
    0) ;;
    1)
        if [[ "${ALLOW_FAILED_CHECKS:-0}" != 1 ]]; then
            echo "baseline: the run failed a check (exit 1); not recording it as a baseline." >&2
            echo "baseline: see $OUT, or set ALLOW_FAILED_CHECKS=1 to keep it anyway." >&2
            exit 1
        fi
        echo "baseline: the run failed a check; recording it anyway (ALLOW_FAILED_CHECKS=1)." >&2
        ;;
    *)
        echo "baseline: bench run exited with $status; no baseline recorded." >&2
        exit "$status"
        ;;
esac

if [[ ! -f "$OUT/summary.json" ]]; then
    echo "baseline: $OUT/summary.json was not written; no baseline recorded." >&2
    exit 2
fi

cp "$OUT/summary.json" "$DEST"
echo "baseline: wrote $DEST (from $OUT/summary.json); commit it to gate against it."
