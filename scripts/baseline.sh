#!/usr/bin/env bash
# Record a regression-gate baseline: run a scenario RUNS times (3 by default) and keep the runs'
# summaries as one baseline file, reports/baselines/<scenario>.json (what `make baseline`
# does). With several runs the gate measures each metric's run-to-run noise instead of
# assuming it (docs/ci-gate.md).
#
#   SCENARIO=ci RUNS=3 scripts/baseline.sh [extra `bench run` arguments, e.g. --database-url URL]
#
# Environment:
#   SCENARIO             scenario name, read from scenarios/$SCENARIO.toml (default: ci)
#   RUNS                 runs to record (default: 3; at least 2 to measure the noise)
#   OUT                  report folder of the runs (default: reports/baseline-runs/$SCENARIO;
#                        run N goes to $OUT/run-N)
#   BENCH                how to invoke bench (default: build and run the release binary)
#   ALLOW_FAILED_CHECKS  set to 1 to keep runs that failed a check (exit 1)
#   DATABASE_URL         read by bench itself; without it each run starts an embedded server.
#                        With it, every run passes --reset (the scenario's `end = "now"` data
#                        of the previous run would be refused otherwise).
#
# The baseline is written only when every run succeeded; an existing baseline is replaced in
# one step. Record baselines on the same kind of machine that runs the gate: compare warns when
# cores, memory or server versions differ, and the numbers only mean something like for like.
set -euo pipefail

cd "$(dirname "$0")/.."

SCENARIO="${SCENARIO:-ci}"
RUNS="${RUNS:-3}"
SCENARIO_FILE="scenarios/${SCENARIO}.toml"
OUT="${OUT:-reports/baseline-runs/${SCENARIO}}"
DEST="reports/baselines/${SCENARIO}.json"

if [[ ! -f "$SCENARIO_FILE" ]]; then
    echo "baseline: no scenario file $SCENARIO_FILE (set SCENARIO to one of: $(ls scenarios 2>/dev/null | sed -n 's/\.toml$//p' | tr '\n' ' '))" >&2
    exit 2
fi
if [[ ! "$RUNS" =~ ^[0-9]+$ ]] || ((RUNS < 1)); then
    echo "baseline: RUNS must be a whole number >= 1, got '$RUNS'" >&2
    exit 2
fi
if ((RUNS == 1)); then
    echo "baseline: RUNS=1: the gate cannot measure the noise from one run and will assume a default" >&2
fi

if [[ -n "${BENCH:-}" ]]; then
    # Intentionally split: BENCH may be a command with arguments.
    read -r -a bench_cmd <<<"$BENCH"
else
    cargo build --release --quiet --bin bench
    bench_cmd=(target/release/bench)
fi

extra=()
if [[ -n "${DATABASE_URL:-}" ]]; then
    extra+=(--reset)
fi

mkdir -p "$OUT" "$(dirname "$DEST")"
summaries=()
for ((i = 1; i <= RUNS; i++)); do
    dir="$OUT/run-$i"
    rm -rf "$dir"
    echo "baseline: run $i of $RUNS -> $dir" >&2
    status=0
    "${bench_cmd[@]}" run "$SCENARIO_FILE" --out "$dir" "${extra[@]}" "$@" || status=$?
    case "$status" in
        0) ;;
        1)
            if [[ "${ALLOW_FAILED_CHECKS:-0}" != 1 ]]; then
                echo "baseline: run $i failed a check (exit 1); not recording a baseline." >&2
                echo "baseline: see $dir, or set ALLOW_FAILED_CHECKS=1 to keep it anyway." >&2
                exit 1
            fi
            echo "baseline: run $i failed a check; keeping it anyway (ALLOW_FAILED_CHECKS=1)." >&2
            ;;
        *)
            echo "baseline: bench run exited with $status; no baseline recorded." >&2
            exit "$status"
            ;;
    esac
    if [[ ! -f "$dir/summary.json" ]]; then
        echo "baseline: $dir/summary.json was not written; no baseline recorded." >&2
        exit 2
    fi
    summaries+=("$dir/summary.json")
done

# Build the new baseline next to the old one, then replace it in one step.
tmp="$DEST.new"
rm -f "$tmp"
"${bench_cmd[@]}" baseline add "$tmp" "${summaries[@]}" --keep "$RUNS" >/dev/null
mv "$tmp" "$DEST"
echo "baseline: wrote $DEST ($RUNS run(s) from $OUT); commit it to gate against it."
"${bench_cmd[@]}" baseline show "$DEST" | sed -n '1,/^[^ ]/p' | head -n $((RUNS + 1))
