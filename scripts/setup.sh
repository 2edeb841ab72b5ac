#!/usr/bin/env bash
# Installs what building and testing corosync-rs needs on Debian 12 (or a
# similar Debian/Ubuntu), and nothing that is already there. Quick when
# everything is present. Needs root only when it has to install something.
set -euo pipefail

packages=(
    corosync                # the daemon the demo and the tests run
    libcorosync-common-dev  # corotypes.h, libcorosync_common
    libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcfg-dev libsam-dev
    clang libclang-dev      # bindgen
    pkg-config
    gcc libc6-dev           # linking, and the C programs tests compare with
    iproute2                # ip netns, veth, bridge
    util-linux              # runuser
)

missing=()
for pkg in "${packages[@]}"; do
    [[ $pkg == \#* ]] && continue
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    echo "setup: installing missing packages: ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: installing packages needs root; run this script as root (e.g. with sudo)." >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# corosync's Debian package starts the daemon when systemd runs; the harness
# starts its own daemons in namespaces and does not need that one.

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing. Install Rust 1.80 or newer (https://rustup.rs) and run again." >&2
    exit 1
fi
rust_version=$(rustc --version | awk '{print $2}')
if ! printf '1.80.0\n%s\n' "$rust_version" | sort -V -C; then
    echo "setup: rustc $rust_version is older than the required 1.80; update Rust and run again." >&2
    exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "setup: note: the demo and the tests need root (they create network namespaces)." >&2
fi
echo "setup: everything needed is installed (corosync $(corosync -v 2>/dev/null | sed -n "s/.*version '\([^']*\)'.*/\1/p"), rustc $rust_version)"
