#!/usr/bin/env bash
# The CPG benchmark: the Rust example corosync/examples/cpg_bench.rs and the
# plain C program tests/c/cpg_bench.c run the same loops on libcpg, side by
# side on one local corosync cluster; prints Markdown tables of medians and
# Rust/C ratios, and writes every figure to target/bench/cpg-<UTC time>.tsv
# (scripts/plot-bench.py draws BENCHMARKS.md's plot and headline table from
# such files). Arguments go to the runner:
#   --rounds N (default 9)  --scale F (default 1)  --no-callgrind
#   --callback-symbol S (default deliver: which callees of cpg_dispatch are
#   the delivery callback in the callgrind table)  --out FILE (the .tsv)
#   --no-async (skip the async table)  --async-only (only that table)
#   --pin (with --async-only: corosync on CPU 0, the programs on CPU 1)
#   --nodes N (with --async-only: a cluster of N nodes, the programs on the
#   first; default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench: installing valgrind (for instruction counts)"
    apt-get install -y -qq valgrind >/dev/null
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "bench: must run as root (it starts corosync in a network namespace)" >&2
    exit 1
fi
cargo build --quiet --release -p corosync --features tokio --example cpg_bench --example cpg_bench_async
cargo run --quiet --release -p corosync-tests --bin bench-cpg -- "$@"
