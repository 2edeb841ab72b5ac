#!/usr/bin/env bash
# The README's first command: install what is missing, then start a one-node
# corosync cluster on loopback, read its state through the bindings, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [[ $(id -u) -ne 0 ]]; then
    echo "demo: must run as root (it starts corosync in a network namespace); try: sudo $0" >&2
    exit 1
fi
cargo run --quiet -p corosync-tests --bin demo
