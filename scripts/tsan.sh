#!/usr/bin/env bash
# Runs the async hammer (tests/tests/async_hammer.rs: the CPG adapter used
# from many tasks of a multi-thread runtime at once, against a one-node
# cluster) under ThreadSanitizer: nightly, with the standard library rebuilt
# instrumented (-Zbuild-std, needs rust-src). Fails on any data race or
# other report, and when the test fails. corosync's C libraries are not
# instrumented: TSan sees the Rust side, including every lock the bindings
# take around C calls. Needs root, as the live tests do. Builds in
# target/tsan/; extra arguments go to the test binary.
#
# Suppressions, if ever needed, go to scripts/tsan.supp, each named and
# explained.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "tsan: must run as root (the test starts a cluster); try: sudo $0" >&2; exit 1; }
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    rustup toolchain install nightly --profile minimal --component rust-src
fi
target=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
start=$SECONDS
cargo +nightly test -Zbuild-std --target "$target" --target-dir target/tsan \
    -p corosync-tests --test async_hammer -- "$@"
echo "tsan: clean ($((SECONDS - start)) s)"
