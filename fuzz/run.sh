#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each with libFuzzer, on the stable
# toolchain (RUSTC_BOOTSTRAP=1), and prints execs/s and coverage per target.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Environment: JOBS (targets run at once, default 1), FUZZ_SANITIZER (default none: dxf-proto
# forbids unsafe code; use "address" to check dependencies too). New inputs go to a scratch
# corpus in target/fuzz-work/<target>/ (the tracked corpus/<target>/ is only read: the tree
# stays clean); `fuzz/promote.sh <target>` adds the ones that add coverage to corpus/.
# Crashes go to artifacts/<target>/ (turn them into regressions/<target>/). Exit status is
# non-zero when any target found a failure.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
export RUSTC_BOOTSTRAP=1
jobs=${JOBS:-1}
san=${FUZZ_SANITIZER:-none}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

flags=(-O --debug-assertions --sanitizer "$san")
cargo fuzz build "${flags[@]}"

logs=target/fuzz-logs
mkdir -p "$logs"

run_one() {
    local t=$1
    local work=target/fuzz-work/$t
    mkdir -p "$work" "corpus/$t" "artifacts/$t"
    local rc=0
    cargo fuzz run "${flags[@]}" "$t" "$work" "corpus/$t" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 >"$logs/$t.log" 2>&1 || rc=$?
    echo $rc >"$logs/$t.rc"
}

running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

status=0
printf '%-18s %6s %8s %8s %10s %s\n' target secs cov ft exec/s result
for t in "${targets[@]}"; do
    log=$logs/$t.log
    line=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -n 1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
    eps=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -n 1)
    rc=$(cat "$logs/$t.rc" 2>/dev/null || echo 1)
    result=ok
    if [ "$rc" != 0 ]; then
        result="FAILED (see $log, artifacts/$t/)"
        status=1
    fi
    printf '%-18s %6s %8s %8s %10s %s\n' "$t" "$secs" "${cov:--}" "${ft:--}" "${eps:--}" "$result"
done
exit $status
