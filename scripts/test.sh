#!/usr/bin/env bash
# The README's second command: install what is missing, then run the whole
# test suite (unit tests, the harness's live clusters, integration tests).
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [[ $(id -u) -ne 0 ]]; then
    echo "test: must run as root (the live tests start corosync clusters in network namespaces); try: sudo $0" >&2
    exit 1
fi
cargo test --workspace --all-targets "$@"
# The doc examples are programs that talk to a daemon: they run inside the
# network namespace of a one-node cluster that the harness starts (and tears
# down after them); examples marked `no_run` say why nearby.
cargo run --quiet -p corosync-tests --bin cluster -- --run --limit 1800 -- \
    cargo test --workspace --doc "$@"
