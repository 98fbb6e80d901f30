#!/usr/bin/env bash
# Measure the measurement: run the same query at the same client count with pgbench and with
# bench, and compare mean latency and throughput.
#
#   DATABASE_URL=postgres://user@127.0.0.1:5432/db scripts/compare-pgbench.sh
#
# Queries: `SELECT 1` and latest_24h (one random well, last 24 h), each with 1 and 2 clients,
# DURATION seconds each (default 10; QUERIES and CLIENTS narrow the set). For each pair, bench and pgbench run alternately in ABBA
# order over ROUNDS rounds (default 2: pgbench, bench, bench, pgbench), so drift in the
# machine's load hits both tools alike; the table shows the averages. bench runs a throwaway
# one-query scenario (written to a temporary directory) against DATABASE_URL in its own schema
# (SCHEMA, default esp_bench_pgbench; the data is loaded on the first run and reused after).
# pgbench runs `-n -M prepared -j 1 -c N -T DURATION -f FILE` against the same tables.
#
# latest_24h differs only in how the well id is built: bench binds 'WELL-042' as a text
# parameter; pgbench can only draw integers, so it binds 42 and the server formats the id
# ('WELL-' || lpad(...)). The data end is a timestamptz parameter in both.
#
# Pass criteria (issue 13, item 7): bench mean within 3% of pgbench's mean, bench throughput >=
# pgbench's.
# Lower latency and higher throughput than pgbench is reported as "PASS (faster)".
# Exit status: 0 all pass, 1 some comparison failed, 2 setup error.
set -euo pipefail

: "${DATABASE_URL:?set DATABASE_URL to the server to measure (loopback)}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
QUERIES="${QUERIES:-select1 latest_24h}"
CLIENTS="${CLIENTS:-1 2}"
SCHEMA="${SCHEMA:-esp_bench_pgbench}"
BENCH="${BENCH:-target/release/bench}"
PGBENCH="${PGBENCH:-pgbench}"
WELLS=100
# The data ends at today's midnight (UTC): on the community edition the policies bench switches
# back on after each run would drop data that ended more than 30 days ago (the retention
# window), and the next run's verification would refuse the emptied tables.
END="${END:-$(date -u +%Y-%m-%dT00:00:00Z)}"

command -v "$PGBENCH" >/dev/null || { echo "pgbench not found (set PGBENCH)" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq not found" >&2; exit 2; }
if [[ ! -x "$BENCH" ]]; then
    cargo build --release --bin bench >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# scenario NAME QUERY_LINES: a one-query scenario file; prints its path.
scenario() {
    local f="$work/$1.toml"
    cat >"$f" <<TOML
[scenario]
name = "pgbench-compare"
description = "bench vs pgbench"

[fleet]
wells = $WELLS
sample_interval = "60s"
span = "3d"
end = "$END"
seed = 42

[run]
warmup = "2s"
duration = "${DURATION}s"
reuse_data = true

[checks]
chunk_counts = false
policies = false
retention = false

[[queries]]
$2
TOML
    echo "$f"
}

echo "select 1;" >"$work/select1.sql"
cat >"$work/latest_24h.sql" <<SQL
\\set w random(1, $WELLS)
SELECT * FROM esp_telemetry WHERE well_id = 'WELL-' || lpad(:w::text, 3, '0') AND "timestamp" > :data_end::timestamptz - interval '24 hours' ORDER BY "timestamp" DESC;
SQL

# bench_run NAME QUERY_LINES [FLAGS...]: prints "mean_ms qps".
bench_run() {
    local f rc name="$1" lines="$2"
    shift 2
    f="$(scenario "$name" "$lines")"
    set +e
    "$BENCH" run "$f" --database-url "$DATABASE_URL" --schema "$SCHEMA" --out "$work/$name" "$@" >&2
    rc=$?
    set -e
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
        echo "bench run failed (exit $rc)" >&2
        exit 2
    fi
    jq -r --arg n "$name" '.queries[] | select(.name == $n) | "\(.latency_ms.mean) \(.throughput_qps)"' \
        "$work/$name/summary.json"
}

# pgbench_run FILE CLIENTS: prints "mean_ms tps".
pgbench_run() {
    local out lat tps
    out="$(PGOPTIONS="-c search_path=$SCHEMA,public" "$PGBENCH" -n -M prepared -j 1 \
        -c "$2" -T "$DURATION" -D data_end="$END" -f "$1" "$DATABASE_URL" 2>&1)" || {
        echo "$out" >&2
        exit 2
    }
    lat="$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$out")"
    tps="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n1)"
    echo "$lat $tps"
}

avg() { awk '{ s += $1; n++ } END { printf "%.6f", s / n }'; }

# Load the data once (and check the setup) before timing anything; --reset replaces the data of
# an earlier day's END in bench's schema (only there).
bench_run warmup "name = \"warmup\"
sql = \"SELECT 1\"
clients = 1" --reset >/dev/null

status=0
printf '%-12s %7s %10s %10s %7s %10s %10s %7s  %s\n' query clients bench_ms pgbench_ms 'diff%' \
    bench_qps pgb_qps ratio verdict
for base in $QUERIES; do
    for c in $CLIENTS; do
        name="${base}_c${c}"
        if [[ $base == select1 ]]; then
            q="name = \"$name\"
sql = \"SELECT 1\"
clients = $c"
        else
            q="name = \"$name\"
builtin = \"latest_24h\"
clients = $c"
        fi
        : >"$work/b"
        : >"$work/p"
        for ((r = 0; r < ROUNDS; r++)); do
            if ((r % 2 == 0)); then
                pgbench_run "$work/$base.sql" "$c" >>"$work/p"
                bench_run "$name" "$q" >>"$work/b"
            else
                bench_run "$name" "$q" >>"$work/b"
                pgbench_run "$work/$base.sql" "$c" >>"$work/p"
            fi
        done
        echo "$name rounds (mean_ms qps): bench $(paste -sd, "$work/b"); pgbench $(paste -sd, "$work/p")" >&2
        b_mean="$(cut -d' ' -f1 "$work/b" | avg)"
        b_qps="$(cut -d' ' -f2 "$work/b" | avg)"
        p_mean="$(cut -d' ' -f1 "$work/p" | avg)"
        p_qps="$(cut -d' ' -f2 "$work/p" | avg)"
        diff="$(awk -v b="$b_mean" -v p="$p_mean" 'BEGIN { printf "%+.1f", (b - p) / p * 100 }')"
        ratio="$(awk -v b="$b_qps" -v p="$p_qps" 'BEGIN { printf "%.3f", b / p }')"
        verdict="$(awk -v b="$b_mean" -v p="$p_mean" -v bq="$b_qps" -v pq="$p_qps" 'BEGIN {
            d = (b - p) / p
            if (d <= 0.03 && d >= -0.03 && bq >= pq) print "PASS"
            else if (d < 0 && bq >= pq) print "PASS (faster)"
            else print "FAIL" }')"
        [[ "$verdict" == FAIL ]] && status=1
        printf '%-12s %7s %10.4f %10.4f %7s %10.1f %10.1f %7s  %s\n' "$base" "$c" "$b_mean" \
            "$p_mean" "$diff" "$b_qps" "$p_qps" "$ratio" "$verdict"
    done
done
exit $status
