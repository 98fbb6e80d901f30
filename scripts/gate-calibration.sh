#!/usr/bin/env bash
# Calibrate the regression gate on real runs (docs/ci-gate.md, "Calibration"):
#
#  1. runs the CI scenario RUNS times unchanged ("A" runs), and B_RUNS times for each injected
#     slowdown in SLOWDOWNS ("B" runs), interleaved round by round so that A and B runs see the
#     same machine. The scenario gets two extra custom queries: `calibration_rows` reads the
#     newest 2,500 rows of a random well times the server setting
#     `esp_bench.calibration_slowdown`, and `calibration_steady` (a query with a steady median)
#     reads a fixed well's 2,500 rows before the last day times
#     `esp_bench.calibration_steady_slowdown` (both set with --pg-setting for the B runs only):
#     a real slowdown of a query, by doing more work, with an unchanged scenario fingerprint;
#  2. optionally perturbs one A run (PERTURB=index) with PERTURB_LOOPS background busy loops,
#     started before that run and stopped by PID after it: an outlier run;
#  3. builds baselines of K consecutive A runs (`bench baseline add`), as `make baseline` records
#     them, and judges every other A run against each (A/A: every failure is a false positive),
#     and every B run (A/B: a detection when the calibration query's row regresses). When the
#     first judgement fails, the confirmation run is judged with it (`bench compare --confirm`,
#     what the shipped workflow does): a failure counts only if it is confirmed;
#  4. reports the rates with 95% Wilson confidence intervals, the measured size of each
#     injected slowdown, and writes every judgement to $OUT/trials.tsv.
#
#   scripts/gate-calibration.sh                  # full calibration, ~40 runs
#   RUNS=6 B_RUNS=2 SLOWDOWNS=200 scripts/gate-calibration.sh   # a quick check
#   EVALUATE_ONLY=1 OUT=reports/gate-calibration scripts/gate-calibration.sh   # re-judge runs
#
# Environment:
#   SCENARIO        scenario file to calibrate (default: scenarios/ci.toml)
#   RUNS            A runs (default: 12)
#   K               baseline runs per baseline (default: 3, as `make baseline`)
#   SLOWDOWNS       injected slowdowns, one kind of B run per token (default: "25 10"; "" or
#                   B_RUNS=0: A/A trials only). P: calibration_rows reads P% more rows; PtS:
#                   only in S% of its executions, which moves its tail (p95) and leaves its
#                   median nearly alone ("100t10" doubles the rows of one execution in ten);
#                   mP: calibration_steady reads P% more rows (all executions: a median
#                   slowdown); parts joined by + slow both queries in the same B runs
#                   ("110t10+m15"), each reported on its own
#   B_RUNS          B runs per slowdown (default: 6)
#   PERTURB         index (1-based) of the A run to run under background CPU load (default: none)
#   PERTURB_LOOPS   busy loops during that run (default: 1)
#   CONFIRM         1: judge with a confirmation run as the workflow does; 0: first run only
#                   (default: 1)
#   POOL            1: judge the head runs pooled (`bench compare --confirm RUN... --pool`: tested
#                   on their mean, beyond the threshold in a majority of them), as the shipped
#                   workflow does; 0: intersected (`--confirm` alone, each run significant on
#                   its own) (default: 1)
#   HEAD_RUNS       head runs per trial in DESIGN=workflow (the workflow's HEAD_RUNS; default: 3)
#   DESIGN          workflow: the shipped workflow's design, a baseline recorded in the job
#                   around the runs it judges (base, head, base, head, ..., base: K base runs
#                   and HEAD_RUNS head runs alternating): a block of K+HEAD_RUNS consecutive A
#                   runs, the 2nd, 4th, ... as the head runs (with 2 intersected head runs, each
#                   way round), the others as the baseline; for A/B, the baseline of K
#                   consecutive A runs and the HEAD_RUNS B runs that ran after its first
#                   HEAD_RUNS (the same positions); window: judge a baseline of K
#                   consecutive A runs against the A runs right before and after it (harsher:
#                   the judged runs lie outside the baseline's time span); all: against every
#                   other run (a committed baseline judging runs recorded at any time)
#                   (default: workflow)
#   COMPARE_ARGS    extra `bench compare` arguments, e.g. "--max-regression 5%"
#   OUT             output folder (default: reports/gate-calibration)
#   EVALUATE_ONLY   1: do not run anything, judge the runs already in $OUT/runs
#   BENCH           how to invoke bench (default: build and run the release binary)
#   MAX_FP_PCT      if set, exit 1 when the confirmed A/A false-positive rate exceeds it
#   MIN_DETECT_PCT  if set, exit 1 when a slowdown's confirmed detection rate is below it
#   DATABASE_URL    not supported: the slowdown is a setting of the embedded server
#
# Exit codes: 0 done (and the MAX_FP_PCT / MIN_DETECT_PCT targets met), 1 a target missed,
# 2 a run or a comparison failed to execute.
set -euo pipefail

cd "$(dirname "$0")/.."

SCENARIO="${SCENARIO:-scenarios/ci.toml}"
RUNS="${RUNS:-12}"
K="${K:-3}"
SLOWDOWNS="${SLOWDOWNS-25 10}"
B_RUNS="${B_RUNS:-6}"
PERTURB="${PERTURB:-}"
PERTURB_LOOPS="${PERTURB_LOOPS:-1}"
CONFIRM="${CONFIRM:-1}"
POOL="${POOL:-1}"
HEAD_RUNS="${HEAD_RUNS:-3}"
DESIGN="${DESIGN:-workflow}"
COMPARE_ARGS="${COMPARE_ARGS:-}"
OUT="${OUT:-reports/gate-calibration}"
EVALUATE_ONLY="${EVALUATE_ONLY:-0}"
# The query a slowdown token's part slows: "P" / "PtS" calibration_rows, "mP" calibration_steady.
part_query() { [[ "$1" == m* ]] && echo calibration_steady || echo calibration_rows; }

die() {
    echo "gate-calibration: $*" >&2
    exit 2
}

[[ -f "$SCENARIO" ]] || die "no scenario file $SCENARIO"
[[ "$DESIGN" == workflow || "$DESIGN" == window || "$DESIGN" == all ]] ||
    die "DESIGN must be workflow, window or all, got '$DESIGN'"
[[ -z "${DATABASE_URL:-}" ]] || die "DATABASE_URL is set: the injected slowdown needs the embedded server (--pg-setting)"
for n in RUNS K B_RUNS PERTURB_LOOPS HEAD_RUNS; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || die "$n must be a whole number, got '${!n}'"
done
((K >= 1)) || die "K must be at least 1"
((HEAD_RUNS >= 1)) || die "HEAD_RUNS must be at least 1"
((RUNS > K)) || die "RUNS ($RUNS) must exceed K ($K): every A/A trial needs a run outside its baseline"
for s in $SLOWDOWNS; do
    for part in ${s//+/ }; do
        [[ "$part" =~ ^(m[0-9]+([.][0-9]+)?|[0-9]+([.][0-9]+)?(t[0-9]+([.][0-9]+)?)?)$ ]] ||
            die "SLOWDOWNS must be percentages (P: P% more rows of calibration_rows, PtS: in S% of its executions; mP: P% more rows of calibration_steady; parts joined by +), got '$s'"
    done
    queries=""
    for part in ${s//+/ }; do
        q=$(part_query "$part")
        [[ " $queries " != *" $q "* ]] || die "SLOWDOWNS token '$s' slows $q twice"
        queries+=" $q"
    done
done
# A/A only: B_RUNS=0 or SLOWDOWNS="".
((B_RUNS > 0)) || SLOWDOWNS=""

if [[ -n "${BENCH:-}" ]]; then
    # Intentionally split: BENCH may be a command with arguments.
    read -r -a bench_cmd <<<"$BENCH"
else
    cargo build --release --quiet --bin bench
    bench_cmd=(target/release/bench)
fi
read -r -a compare_extra <<<"$COMPARE_ARGS"

runs_dir="$OUT/runs"
scenario_file="$OUT/scenario.toml"
mkdir -p "$runs_dir"

# ---------------------------------------------------------------------------------------------
# 1. Runs

busy_pids=()
stop_busy() {
    local pid
    for pid in "${busy_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    busy_pids=()
}
trap stop_busy EXIT

# One `bench run`; exit 0 and 1 (a check failed on a loaded machine) both leave a report.
run_one() {
    local dir="$1"
    shift
    local status=0
    echo "gate-calibration: run $dir" >&2
    "${bench_cmd[@]}" run "$scenario_file" --out "$dir" "$@" >"$dir.log" 2>&1 || status=$?
    if ((status > 1)) || [[ ! -f "$dir/summary.json" ]]; then
        die "bench run for $dir exited with $status (see $dir.log)"
    fi
}

if [[ "$EVALUATE_ONLY" != 1 ]]; then
    cp "$SCENARIO" "$scenario_file"
    cat >>"$scenario_file" <<'EOF'

# Added by scripts/gate-calibration.sh: the query whose slowdown is injected. It reads the newest
# 2,500 rows of a random well, times the server setting esp_bench.calibration_slowdown (unset:
# 1) in the share esp_bench.calibration_share of its executions (unset: all), so a B run does
# proportionally more real work in this one query while its scenario, and so its fingerprint,
# stays that of the A runs.
[[queries]]
name = "calibration_rows"
sql = """
SELECT avg(motor_current_a), max(vibration_g) FROM (
  SELECT motor_current_a, vibration_g FROM esp_telemetry WHERE well_id = $1
  ORDER BY "timestamp" DESC
  LIMIT ($2::float8 * CASE
    WHEN random() < coalesce(nullif(current_setting('esp_bench.calibration_share', true), '')::float8, 1)
    THEN coalesce(nullif(current_setting('esp_bench.calibration_slowdown', true), '')::float8, 1)
    ELSE 1 END)::int
) t
"""
params = [{ kind = "random_well" }, { kind = "fixed", value = 2500.0 }]

# Added by scripts/gate-calibration.sh: a query with a steady median, for median slowdowns. It
# reads one fixed well's 2,500 rows before the last day (older data, away from the live trickle
# of new rows), times esp_bench.calibration_steady_slowdown (unset: 1). Its LIMIT has no
# random(), so the planner estimates it as the number it is (a volatile LIMIT is planned as an
# unknown one).
[[queries]]
name = "calibration_steady"
sql = """
SELECT avg(motor_current_a), max(vibration_g) FROM (
  SELECT motor_current_a, vibration_g FROM esp_telemetry
  WHERE well_id = $1 AND "timestamp" <= $2::timestamptz - interval '1 day'
  ORDER BY "timestamp" DESC
  LIMIT ($3::float8
    * coalesce(nullif(current_setting('esp_bench.calibration_steady_slowdown', true), '')::float8, 1))::int
) t
"""
params = [{ kind = "fixed", value = "WELL-001" }, { kind = "data_end" }, { kind = "fixed", value = 2500.0 }]
EOF
    rounds=$((RUNS > B_RUNS ? RUNS : B_RUNS))
    for ((r = 1; r <= rounds; r++)); do
        if ((r <= RUNS)); then
            dir="$runs_dir/a-$(printf %02d "$r")"
            rm -rf "$dir"
            if [[ "$r" == "$PERTURB" ]]; then
                for ((l = 0; l < PERTURB_LOOPS; l++)); do
                    (while :; do :; done) &
                    busy_pids+=("$!")
                done
                echo "gate-calibration: run $r under $PERTURB_LOOPS busy loop(s), PIDs ${busy_pids[*]}" >&2
                run_one "$dir"
                stop_busy
                touch "$dir/PERTURBED"
            else
                run_one "$dir"
            fi
        fi
        if ((r <= B_RUNS)); then
            for s in $SLOWDOWNS; do
                settings=()
                for part in ${s//+/ }; do
                    p="${part#m}"
                    factor=$(awk -v s="${p%t*}" 'BEGIN { printf "%.4f", 1 + s / 100 }')
                    share=1
                    [[ "$p" == *t* ]] && share=$(awk -v s="${p#*t}" 'BEGIN { printf "%.4f", s / 100 }')
                    if [[ "$part" == m* ]]; then
                        settings+=(--pg-setting "esp_bench.calibration_steady_slowdown=$factor")
                    else
                        settings+=(--pg-setting "esp_bench.calibration_slowdown=$factor"
                            --pg-setting "esp_bench.calibration_share=$share")
                    fi
                done
                dir="$runs_dir/b$s-$(printf %02d "$r")"
                rm -rf "$dir"
                run_one "$dir" "${settings[@]}"
            done
        fi
    done
fi

# ---------------------------------------------------------------------------------------------
# 2. Judgements

eval_dir="$OUT/eval"
rm -rf "$eval_dir"
mkdir -p "$eval_dir"
trials="$OUT/trials.tsv"
printf 'kind\tbaseline\tcurrent\tconfirm\tfirst_failed\tfailed\tslowed\tregressed\n' >"$trials"

a_runs=()
for ((i = 1; i <= RUNS; i++)); do
    f="$runs_dir/a-$(printf %02d "$i")/summary.json"
    [[ -f "$f" ]] || die "missing $f (set RUNS to the number of A runs in $runs_dir)"
    a_runs+=("$f")
done

# `bench compare ... --format json`; exit 0 and 1 are verdicts, anything else is an error.
judge() {
    local out="$1"
    shift
    local status=0
    "${bench_cmd[@]}" compare "$@" "${compare_extra[@]}" --format json >"$out" 2>"$out.err" || status=$?
    ((status <= 1)) || die "bench compare $* exited with $status: $(cat "$out.err")"
}

# The verdicts of the slowed queries' rows: "query:metric=verdict,...", or "-" (A/A).
slowed_verdicts() { # file query...
    local f="$1"
    shift
    (($# > 0)) || {
        echo -
        return
    }
    jq -r --argjson qs "$(printf '%s\n' "$@" | jq -R . | jq -s .)" \
        '[.rows[] | select(.query as $q | $qs | index($q)) | "\(.query):\(.metric)=\(.verdict)"] | if length == 0 then "absent" else join(",") end' "$f"
}

# trial KIND BASELINE_INDEX BASELINE_FILE CURRENT [CONFIRM...]; the slowed queries are in the
# array trial_slowed (empty for A/A).
trial_slowed=()
trial() {
    local kind="$1" bi="$2" base="$3" cur="$4"
    shift 4
    local confirms=() confirm_args=() c
    for c in "$@"; do
        [[ -n "$c" ]] || continue
        confirms+=("$c")
        confirm_args+=(--confirm "$c")
    done
    local confirm="${confirms[*]+"${confirms[*]}"}"
    confirm="${confirm//\/summary.json/}"
    confirm="${confirm// /,}"
    local n
    n=$(wc -l <"$trials")
    local first="$eval_dir/t$n-first.json" final
    judge "$first" "$base" "$cur"
    local first_failed final_failed
    first_failed=$(jq -r .failed "$first")
    final="$first"
    if [[ "$POOL" == 1 && ${#confirm_args[@]} -gt 0 ]]; then
        # Pooled, the runs together may fail where the first alone passed.
        final="$eval_dir/t$n-pooled.json"
        judge "$final" "$base" "$cur" "${confirm_args[@]}" --pool
    elif [[ "$first_failed" == true && "$CONFIRM" == 1 && ${#confirm_args[@]} -gt 0 ]]; then
        final="$eval_dir/t$n-confirmed.json"
        judge "$final" "$base" "$cur" "${confirm_args[@]}"
    fi
    final_failed=$(jq -r .failed "$final")
    local regressed
    regressed=$(jq -r '[.rows[] | select(.verdict == "regression") | "\(.query):\(.metric)"] | join(",")' "$final")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$bi" "${cur%/summary.json}" \
        "${confirm:--}" "$first_failed" "$final_failed" \
        "$(slowed_verdicts "$final" "${trial_slowed[@]+"${trial_slowed[@]}"}")" \
        "${regressed:--}" >>"$trials"
}

# The nearest A run outside the block [i, i + K) other than $1: its confirmation run.
confirm_of() {
    local j="$1" d cj
    for ((d = 1; d < RUNS; d++)); do
        for cj in $((j + d)) $((j - d)); do
            if ((cj >= 0 && cj < RUNS && (cj < i || cj >= i + K))); then
                echo "${a_runs[$cj]}"
                return
            fi
        done
    done
}

# The shipped workflow (DESIGN=workflow): base, head, base, head, ..., base (K base runs and
# HEAD_RUNS head runs alternating, the heads 2nd, 4th, ...). A/A: a block of K+HEAD_RUNS
# consecutive A runs, its 2nd, 4th, ... the heads. Pooled runs are judged once per block (the
# order does not matter); two intersected runs both ways round (each once as the confirmation).
if [[ "$DESIGN" == workflow ]]; then
    ((K >= HEAD_RUNS)) || die "DESIGN=workflow needs K >= HEAD_RUNS (base runs between the heads)"
    ((K >= 2)) || die "DESIGN=workflow needs K >= 2"
    span=$((K + HEAD_RUNS))
    for ((i = 0; i + span <= RUNS; i++)); do
        base="$eval_dir/workflow-baseline-$((i + 1)).json"
        members=()
        heads=()
        for ((j = i; j < i + span; j++)); do
            if (((j - i) % 2 == 1 && (j - i) < 2 * HEAD_RUNS)); then
                heads+=("${a_runs[j]}")
            else
                members+=("${a_runs[j]}")
            fi
        done
        "${bench_cmd[@]}" baseline add "$base" "${members[@]}" >/dev/null ||
            die "bench baseline add $base failed"
        trial aa "$((i + 1))" "$base" "${heads[@]}"
        if [[ "$POOL" != 1 && ${#heads[@]} == 2 ]]; then
            trial aa "$((i + 1))" "$base" "${heads[1]}" "${heads[0]}"
        fi
    done
fi

for ((i = 0; i + K <= RUNS; i++)); do
    base="$eval_dir/baseline-$((i + 1)).json"
    "${bench_cmd[@]}" baseline add "$base" "${a_runs[@]:i:K}" >/dev/null ||
        die "bench baseline add $base failed"
    # A/A: "window" judges the A runs right before and right after the block (a baseline
    # recorded in the same job as the run it judges); "all" judges every A run outside it (a
    # committed baseline judging runs at any later time).
    if [[ "$DESIGN" == workflow ]]; then
        currents=()
    elif [[ "$DESIGN" == window ]]; then
        currents=($((i - 1)) $((i + K)))
    else
        currents=()
        for ((j = 0; j < RUNS; j++)); do
            ((j < i || j >= i + K)) && currents+=("$j")
        done
    fi
    for j in "${currents[@]+"${currents[@]}"}"; do
        ((j >= 0 && j < RUNS)) || continue
        trial aa "$((i + 1))" "$base" "${a_runs[$j]}" "$(confirm_of "$j")"
    done
    # A/B: "window" judges the B runs of the block's rounds (each ran right after an A run of
    # the block); "all" every B run. The confirmation is the B run of the next round (or the
    # previous one for the last).
    for s in $SLOWDOWNS; do
        # (judged B round, its confirmations' rounds, comma-separated), 1-based.
        pairs=()
        if [[ "$DESIGN" == workflow ]]; then
            # The B runs after the block's first HEAD_RUNS A runs, where the head runs sit.
            if ((i + HEAD_RUNS <= B_RUNS)); then
                rest=""
                for ((j = i + 2; j <= i + HEAD_RUNS; j++)); do rest+="${rest:+,}$j"; done
                pairs=("$((i + 1)):$rest")
                if [[ "$POOL" != 1 && "$HEAD_RUNS" == 2 ]]; then pairs+=("$((i + 2)):$((i + 1))"); fi
            fi
        else
            rounds=()
            if [[ "$DESIGN" == window ]]; then
                for ((j = i + 1; j <= i + K && j <= B_RUNS; j++)); do rounds+=("$j"); done
            else
                for ((j = 1; j <= B_RUNS; j++)); do rounds+=("$j"); done
            fi
            for j in "${rounds[@]+"${rounds[@]}"}"; do
                pairs+=("$j:$((B_RUNS > 1 ? (j < B_RUNS ? j + 1 : j - 1) : 0))")
            done
        fi
        for pair in "${pairs[@]+"${pairs[@]}"}"; do
            j="${pair%%:*}"
            cr="${pair##*:}"
            cur="$runs_dir/b$s-$(printf %02d "$j")/summary.json"
            [[ -f "$cur" ]] || die "missing $cur"
            cs=()
            for c in ${cr//,/ }; do
                if ((c > 0)); then
                    cs+=("$runs_dir/b$s-$(printf %02d "$c")/summary.json")
                    [[ -f "${cs[-1]}" ]] || die "missing ${cs[-1]}"
                fi
            done
            trial_slowed=()
            for part in ${s//+/ }; do trial_slowed+=("$(part_query "$part")"); done
            trial "ab$s" "$((i + 1))" "$base" "$cur" "${cs[@]+"${cs[@]}"}"
            trial_slowed=()
        done
    done
done

# ---------------------------------------------------------------------------------------------
# 3. Report

# wilson X N -> "lo-hi" in percent (95%).
wilson() {
    awk -v x="$1" -v n="$2" 'BEGIN {
        if (n == 0) { print "n/a"; exit }
        z = 1.959964; p = x / n; d = 1 + z * z / n
        c = (p + z * z / (2 * n)) / d; h = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
        lo = c - h; hi = c + h; if (lo < 0) lo = 0; if (hi > 1) hi = 1
        printf "%.1f%%-%.1f%%", 100 * lo, 100 * hi }'
}
# detections TOKEN PREFIX: the token's A/B trials whose regressions include a gate starting with
# PREFIX ("query:" any metric of the query, "query:p50_ms," its p50 row).
detections() {
    awk -F'\t' -v k="ab$1" -v g="$2" '$1 == k && index("," $8 ",", "," g)' "$trials" | wc -l
}
pct() { awk -v x="$1" -v n="$2" 'BEGIN { if (n == 0) print "n/a"; else printf "%.1f%%", 100 * x / n }'; }

# Geometric mean of a query's whole-run metric over some summaries.
geomean() { # query metric files...
    local q="$1" m="$2"
    shift 2
    jq -s --arg q "$q" --arg m "$m" \
        '[.[] | .queries[] | select(.name == $q) | .latency_ms[$m] | log] | add / length | exp' "$@"
}

summary="$OUT/summary.txt"
{
    echo "gate calibration: $(basename "$SCENARIO"), $RUNS A runs, K=$K baseline runs, B_RUNS=$B_RUNS per slowdown, design=$DESIGN$([[ "$DESIGN" == workflow ]] && echo ", $HEAD_RUNS head runs"), confirm=$CONFIRM$( ((POOL == 1)) && echo ", pooled")${PERTURB:+, A run $PERTURB under $PERTURB_LOOPS busy loop(s)}${COMPARE_ARGS:+, compare $COMPARE_ARGS}"
    aa_n=$(awk -F'\t' '$1 == "aa"' "$trials" | wc -l)
    aa_first=$(awk -F'\t' '$1 == "aa" && $5 == "true"' "$trials" | wc -l)
    aa_fail=$(awk -F'\t' '$1 == "aa" && $6 == "true"' "$trials" | wc -l)
    echo "A/A: $aa_n trials; failed the first judgement: $aa_first ($(pct "$aa_first" "$aa_n"), 95% CI $(wilson "$aa_first" "$aa_n")); false positives after confirmation: $aa_fail ($(pct "$aa_fail" "$aa_n"), 95% CI $(wilson "$aa_fail" "$aa_n"))"
    # The measured size of a slowdown: its B runs against the A runs of the same rounds (A run r
    # ran right before B run r), so a machine that drifts over a long batch does not bias it.
    a_same=("${a_runs[@]:0:B_RUNS}")
    for s in $SLOWDOWNS; do
        b_files=("$runs_dir"/b"$s"-*/summary.json)
        n=$(awk -F'\t' -v k="ab$s" '$1 == k' "$trials" | wc -l)
        for part in ${s//+/ }; do
            q=$(part_query "$part")
            p="${part#m}"
            a_p50=$(geomean "$q" p50 "${a_same[@]}")
            a_p95=$(geomean "$q" p95 "${a_same[@]}")
            b_p50=$(geomean "$q" p50 "${b_files[@]}")
            b_p95=$(geomean "$q" p95 "${b_files[@]}")
            any=$(detections "$s" "$q:")
            d50=$(detections "$s" "$q:p50_ms,")
            d95=$(detections "$s" "$q:p95_ms,")
            what="+${p%t*}% rows"
            [[ "$p" == *t* ]] && what="+${p%t*}% rows in ${p#*t}% of executions"
            [[ "$s" == *+* ]] && what+=" (of $s)"
            echo "A/B $what: measured change (against the A runs of the same rounds) of $q p50 $(awk -v a="$a_p50" -v b="$b_p50" 'BEGIN { printf "%+.1f%%", 100 * (b / a - 1) }'), p95 $(awk -v a="$a_p95" -v b="$b_p95" 'BEGIN { printf "%+.1f%%", 100 * (b / a - 1) }'); $n trials; detected (any metric of $q): $any ($(pct "$any" "$n"), 95% CI $(wilson "$any" "$n")); p50 row: $d50 ($(pct "$d50" "$n"), CI $(wilson "$d50" "$n")); p95 row: $d95 ($(pct "$d95" "$n"), CI $(wilson "$d95" "$n"))"
        done
        others=$(awk -F'\t' -v k="ab$s" -v qs="$(for part in ${s//+/ }; do part_query "$part"; done | tr '\n' ' ')" '
            $1 == k { n = split($8, g, ","); split(qs, w, " "); hit = 0
                for (i = 1; i <= n; i++) { if (g[i] == "-") continue; own = 0
                    for (j in w) if (index(g[i], w[j] ":") == 1) own = 1
                    if (!own) hit = 1 }
                if (hit) c++ }
            END { print c + 0 }' "$trials")
        echo "A/B $s: an untouched query regressed in $others of $n trials"
    done
    echo "trials: $trials"
} | tee "$summary"

status=0
if [[ -n "${MAX_FP_PCT:-}" ]]; then
    aa_n=$(awk -F'\t' '$1 == "aa"' "$trials" | wc -l)
    aa_fail=$(awk -F'\t' '$1 == "aa" && $6 == "true"' "$trials" | wc -l)
    if awk -v x="$aa_fail" -v n="$aa_n" -v m="$MAX_FP_PCT" 'BEGIN { exit !(100 * x > m * n) }'; then
        echo "gate-calibration: FAIL: false-positive rate $(pct "$aa_fail" "$aa_n") exceeds $MAX_FP_PCT%" >&2
        status=1
    fi
fi
if [[ -n "${MIN_DETECT_PCT:-}" ]]; then
    for s in $SLOWDOWNS; do
        n=$(awk -F'\t' -v k="ab$s" '$1 == k' "$trials" | wc -l)
        for part in ${s//+/ }; do
            q=$(part_query "$part")
            any=$(detections "$s" "$q:")
            if awk -v x="$any" -v n="$n" -v m="$MIN_DETECT_PCT" 'BEGIN { exit !(100 * x < m * n) }'; then
                echo "gate-calibration: FAIL: $part ($q) detected in $(pct "$any" "$n"), below $MIN_DETECT_PCT%" >&2
                status=1
            fi
        done
    done
fi
exit "$status"
