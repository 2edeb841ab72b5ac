#!/usr/bin/env bash
# Runs the corosync crate's unit tests that do not call C under Miri
# (nightly), which reports undefined behaviour: the callback cell and panic
# slot, the dispatch registry, the EVS envelope, group names, cmap values,
# the C-argument helpers, the tokio adapter's payload pool and send window,
# errors, flags and retries. Every feature is on.
#
# Miri cannot run C, so the few unit tests that call into corosync's
# libraries are marked `#[cfg_attr(miri, ignore = "calls C (...)")]`; this
# script lists them and fails if a test is ignored for any other reason, or
# if any test fails. Installs nightly's miri and rust-src when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
    rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
status=0
# Without isolation: one test reads /proc/self/status, as the code it
# tests does (Miri warns that /proc is outside its machine).
export MIRIFLAGS="-Zmiri-disable-isolation ${MIRIFLAGS:-}"
cargo +nightly miri test -p corosync --all-features --lib 2>&1 | tee "$log" || status=$?
ignored=$(grep -E '^test .* \.\.\. ignored' "$log" || true)
others=$(grep -v 'ignored, calls C (' <<<"$ignored" | grep . || true)
echo
echo "miri: tests that call C, not run under Miri ($(grep -c . <<<"$ignored" || true)):"
sed 's/^test \(.*\) \.\.\. ignored, \(.*\)/  \1: \2/' <<<"$ignored"
if [[ -n $others ]]; then
    echo "miri: ignored for another reason:" >&2
    echo "$others" >&2
    status=1
fi
summary=$(grep -E '^test result:' "$log" | tail -1 || true)
echo "miri: ${summary:-no test summary: Miri stopped the run (see above)} ($((SECONDS - start)) s)"
exit "$status"
