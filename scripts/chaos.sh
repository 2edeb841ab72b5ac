#!/usr/bin/env bash
# The seeded fault checker: CPG members (Rust and plain C) and EVS members
# multicast self-checking messages in a local cluster while daemons are
# killed, stopped, isolated and restarted (one node, or two nodes at once)
# and members are killed and re-join; then their records are checked
# against corosync's promises (agreed order, no duplicates or corruption,
# FIFO per sender, self-delivery, virtual synchrony, agreed membership).
# The seed fixes the whole schedule (faults, their order and durations,
# calm periods, message sizes and pacing); only the waits for the cluster
# to re-form vary. Records: target/chaos (or --dir).
#
#   scripts/chaos.sh --seconds N --seed S --nodes K   (K from 3 to 5)
#       [--pace MIN-MAX]        ms between two sends of a member (default 20-120
#                               at 3 nodes, scaled by (K/3)^3: 47-284, 93-556)
#       [--sizes S,M,F]         percent small (28-512 B), medium (1-64 KiB) and
#                               fragmented (over corosync's largest atomic
#                               message) messages, adding up to 100 (default 78,20,2)
#       [--dir D]               where the records go (with each daemon's log)
#       [--daemon-log info|debug] corosync's log level (default info)
#   scripts/chaos.sh --scenario fragments-across-join [--seconds N] [--seed S]
#       a fixed sequence that shows a break corosync itself makes, with
#       plain-C members only (RELIABILITY.md)
#   scripts/chaos.sh --recheck D    check a run's records again (and its
#                                   daemon logs, for corosync's breaks)
#
# Prints every violation with its trace, then one summary line ending in
# "corosync_breaks=<b> violations=<n>". Exit status: 1 on any violation that
# is not a documented corosync break shown by a C member too (those are
# printed and counted in corosync_breaks), 2 when the run itself failed,
# else 0; a scenario exits 1 when its break did not show.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if [[ $(id -u) -ne 0 ]]; then
    echo "chaos: must run as root (it starts corosync in network namespaces); try: sudo $0" >&2
    exit 1
fi
cargo build --quiet -p corosync-tests --bin chaos --bin chaos-member --bin chaos-member-tokio --bin chaos-member-evs
exec target/debug/chaos "$@"
