#!/usr/bin/env bash
# Regenerate corosync-sys/src/pregenerated/: the committed bindings (one file
# per header) and declarations.txt, the declarations they were generated from,
# which the build compares installed headers with.
#
#   scripts/regen-bindings.sh COROSYNC_GIT [BASE_REF [NEWER_REF]]
#
# COROSYNC_GIT is a clone of corosync (a bare one will do). The bindings are
# bindgen's output for the headers of BASE_REF (default v3.1.7, the release
# Debian 12 ships, so the drift test can compare them with the installed
# headers), followed in each file by bindgen's output for the declarations
# only NEWER_REF's headers have (default main: the functions added after
# 3.1.10). Nothing is written unless the headers of every 3.x release tag
# fit the result: no declaration that both have may differ.
#
# It runs bindgen with the configuration of corosync-sys's build script
# (corosync-sys/build/bindings.rs), so libclang must be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
    echo "usage: scripts/regen-bindings.sh COROSYNC_GIT [BASE_REF [NEWER_REF]]" >&2
    exit 2
fi
git_dir=$1
base=${2:-v3.1.7}
newer=${3:-main}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

headers="corotypes.h cpg.h quorum.h votequorum.h cmap.h cfg.h sam.h hdb.h corodefs.h"
# extract REF: writes REF's headers to $tmp/REF/corosync/.
extract() {
    local ref=$1 dir="$tmp/$1/corosync" h
    mkdir -p "$dir"
    for h in $headers; do
        git --git-dir="$git_dir" show "$ref:include/corosync/$h" >"$dir/$h"
    done
}

# describe REF: a tag's name, or the ref with its commit.
describe() {
    if git --git-dir="$git_dir" rev-parse -q --verify "refs/tags/$1" >/dev/null; then
        echo "$1"
    else
        echo "$1 $(git --git-dir="$git_dir" rev-parse --short=12 "$1^{commit}")"
    fi
}

extract "$base"
extract "$newer"
releases=()
for tag in $(git --git-dir="$git_dir" tag --list 'v3.*' | sort -V); do
    [ "$tag" = "$base" ] || extract "$tag"
    releases+=(--release "$tag=$tmp/$tag")
done

# The bindgen feature builds corosync-sys itself without the committed files.
cargo run --quiet -p corosync-sys --features bindgen --example regen_bindings -- \
    --base "$(describe "$base")=$tmp/$base" \
    --newer "$(describe "$newer")=$tmp/$newer" \
    "${releases[@]}" \
    --out corosync-sys/src/pregenerated
echo "regen-bindings: wrote corosync-sys/src/pregenerated/ from $(describe "$base") and $(describe "$newer")"
