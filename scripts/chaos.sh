#!/usr/bin/env bash
# The seeded fault checker: CPG members (Rust and plain C) multicast
# self-checking messages in a local cluster while daemons are killed,
# stopped, isolated and restarted and members are killed and re-join; then
# their records are checked against corosync's promises (agreed order, no
# duplicates or corruption, FIFO per sender, self-delivery, virtual
# synchrony, agreed membership). One summary line ending in violations=<n>;
# exits non-zero on any violation. Records: target/chaos (or --dir).
#   scripts/chaos.sh --seconds N --seed S --nodes K   (K from 3 to 5)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if [[ $(id -u) -ne 0 ]]; then
    echo "chaos: must run as root (it starts corosync in network namespaces); try: sudo $0" >&2
    exit 1
fi
cargo build --quiet -p corosync-tests --bin chaos --bin chaos-member --bin chaos-member-tokio --bin chaos-member-evs
exec target/debug/chaos "$@"
