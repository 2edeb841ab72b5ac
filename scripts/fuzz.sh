#!/usr/bin/env bash
# Fuzzes every decoder of bytes from the wire or the daemon (the targets in
# fuzz/, cargo-fuzz on nightly), each for N seconds, starting from the seeds
# in fuzz/corpus/<target>/. Fails on the first crash, panic or leak; the
# input that caused it is left in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [TARGET...]
#
# N defaults to 20; J targets run at the same time (default 1). A target
# with a dictionary in fuzz/dict/<target>.dict gets it. What the fuzzer
# finds beyond the seeds goes to fuzz/target/corpus/<target>/ (not in the
# repository). Installs nightly and cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
jobs=1
targets=()
while (($#)); do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done

rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz

cd fuzz
((${#targets[@]})) || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build
run() { # target
    local t=$1 work=target/corpus/$1 log=target/fuzz-$1.log
    mkdir -p "$work"
    local start=$SECONDS
    # New inputs go to the first folder; the seeds stay as they are. Inputs
    # up to 8 KiB: a raw envelope of 128 groups takes 4 KiB. A target's
    # dictionary (fuzz/dict/<target>.dict) when it has one.
    local dict=()
    [[ -f dict/$t.dict ]] && dict=(-dict="dict/$t.dict")
    if cargo +nightly fuzz run "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        echo "fuzz: $t clean: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
            awk '{print $2}') runs in $((SECONDS - start)) s, corpus $(ls "$work" | wc -l) inputs"
    else
        tail -40 "$log" >&2
        echo "fuzz: $t FAILED (log: fuzz/$log; input in fuzz/artifacts/$t/)" >&2
        return 1
    fi
}
failed=0
pids=()
for t in "${targets[@]}"; do
    run "$t" &
    pids+=($!)
    if ((${#pids[@]} >= jobs)); then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit "$failed"
