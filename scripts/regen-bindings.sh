#!/usr/bin/env bash
# Regenerate corosync-sys/src/pregenerated/bindings.rs, the bindings docs.rs
# builds use, from the corosync headers installed here (the committed copy
# comes from corosync 3.1.7, the version Debian 12 ships). It uses exactly the
# build script's bindgen configuration: it builds corosync-sys with every
# service enabled and copies what the build script generated.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(pkg-config --modversion libcorosync_common)
if [ "$version" != "3.1.7" ] && [ "${ALLOW_OTHER_VERSION:-}" != 1 ]; then
    echo "regen-bindings: installed corosync is $version; the committed bindings are from 3.1.7." >&2
    echo "Set ALLOW_OTHER_VERSION=1 to regenerate from $version anyway." >&2
    exit 1
fi

out_dir=$(cargo build -p corosync-sys --features cpg,quorum,votequorum,cmap,cfg,sam \
    --message-format=json 2>/dev/null |
    sed -n 's/.*"reason":"build-script-executed","package_id":"[^"]*corosync-sys[^"]*".*"out_dir":"\([^"]*\)".*/\1/p' |
    tail -n 1)
if [ -z "$out_dir" ] || [ ! -f "$out_dir/bindings.rs" ]; then
    echo "regen-bindings: could not find the generated bindings (cargo build -p corosync-sys failed?)" >&2
    exit 1
fi
cp "$out_dir/bindings.rs" corosync-sys/src/pregenerated/bindings.rs
echo "regen-bindings: wrote corosync-sys/src/pregenerated/bindings.rs from corosync $version"
