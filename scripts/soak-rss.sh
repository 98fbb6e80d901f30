#!/usr/bin/env bash
# Soak test for issue 7 ("memory stays flat however long the run"): one fixed-rate query phase
# of ~10 minutes on a small fleet against the embedded server, using the release binary, while
# sampling the bench process's resident set size (VmRSS in /proc/<pid>/status) once a minute.
#
# Usage: scripts/soak-rss.sh [MINUTES] [RATE_QPS]
#   MINUTES   length of the measured query phase (default 10); samples are taken at 1..MINUTES
#   RATE_QPS  fixed query rate over 2 clients (default 200)
#
# Prints one line per sample and a closing table; the report directory is kept under the
# temporary directory for inspection. Needs what `bench run` needs (make setup).
set -euo pipefail

minutes="${1:-10}"
rate="${2:-200}"
cd "$(dirname "$0")/.."

cargo build --release --quiet
bin="target/release/bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/esp-bench-soak.XXXXXX")"
scenario="$work/soak.toml"
cat >"$scenario" <<TOML
[scenario]
name = "soak"
description = "issue 7 soak: ${minutes} min of latest_24h at ${rate} q/s; VmRSS sampled each minute"

[fleet]
# 10 wells x 8 days x 300 s = 23,040 rows: loads in seconds, so the run is all query phase.
wells = 10
sample_interval = "300s"
span = "8d"
seed = 7

[run]
warmup = "2s"
duration = "${minutes}m"
stats_interval = "1s"
statement_timeout = "10s"

[[queries]]
name = "latest_24h_fixed_rate"
builtin = "latest_24h"
rate = ${rate}
clients = 2

[[queries]]
# A custom query too, so the custom-parameter path is soaked as well.
name = "avg_current_1h"
sql = """
SELECT avg(motor_current_a) FROM esp_telemetry
WHERE well_id = \$1 AND "timestamp" > \$2::timestamptz - interval '1 hour' AND "timestamp" <= \$2::timestamptz
"""
params = [{ kind = "random_well" }, { kind = "random_window_end", min_back = "1h" }]
rate = 20
clients = 1
duration = "20s"
warmup = "1s"

[checks]
chunk_counts = false
policies = false
retention = false
TOML

"$bin" run "$scenario" --out "$work/report" >"$work/stdout.log" 2>"$work/stderr.log" &
pid=$!
echo "bench pid $pid, work dir $work" >&2

# Wait for the measured phase to begin, so minute 1 is one minute into the fixed-rate phase
# rather than into server start-up and loading.
until grep -q "latest_24h_fixed_rate" "$work/stderr.log" "$work/stdout.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "bench exited before the query phase; stderr:" >&2
        cat "$work/stderr.log" >&2
        exit 1
    fi
    sleep 1
done
t0=$(date +%s)
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }
echo "minute  VmRSS_kB  VmHWM_kB" | tee "$work/rss.txt"
printf '%6s  %8s  %8s\n' 0 "$(rss "$pid")" "$(hwm "$pid")" | tee -a "$work/rss.txt"
for m in $(seq 1 "$minutes"); do
    while (($(date +%s) < t0 + 60 * m)); do
        kill -0 "$pid" 2>/dev/null || break 2
        sleep 1
    done
    printf '%6s  %8s  %8s\n' "$m" "$(rss "$pid")" "$(hwm "$pid")" | tee -a "$work/rss.txt"
done

status=0
wait "$pid" || status=$?
echo "bench exit code $status; report in $work/report" >&2
tail -n 30 "$work/stdout.log" >&2
