#!/bin/bash
# Starts corosync in the foreground as the container's main process.
#
# With COROSYNC_NODES set (the nodes' addresses, separated by spaces or
# commas; the Nth address is node N, named nodeN), writes
# /etc/corosync/corosync.conf from /etc/corosync/corosync.conf.in first:
#   COROSYNC_CLUSTER_NAME  totem.cluster_name (default corosync-rs)
#   COROSYNC_TOKEN_MS      totem.token in milliseconds (default 1000)
# Without it, runs with the /etc/corosync/corosync.conf the container has
# (mount your own there). corosync finds its own node in the nodelist by
# the container's addresses. Arguments are passed on to corosync.
set -euo pipefail

conf=/etc/corosync/corosync.conf
if [[ -n ${COROSYNC_NODES:-} ]]; then
    nodelist=""
    id=0
    for addr in ${COROSYNC_NODES//,/ }; do
        id=$((id + 1))
        nodelist+="  node {"$'\n'"    ring0_addr: $addr"$'\n'"    nodeid: $id"$'\n'
        nodelist+="    name: node$id"$'\n'"  }"$'\n'
    done
    text=$(<"$conf.in")
    text=${text//@CLUSTER_NAME@/${COROSYNC_CLUSTER_NAME:-corosync-rs}}
    text=${text//@TOKEN_MS@/${COROSYNC_TOKEN_MS:-1000}}
    text=${text//@NODELIST@/${nodelist%$'\n'}}
    printf '%s\n' "$text" >"$conf"
elif [[ ! -s $conf ]]; then
    echo "corosync-node: set COROSYNC_NODES or mount a corosync.conf at $conf" >&2
    exit 1
fi

exec corosync -f "$@"
