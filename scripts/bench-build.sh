#!/usr/bin/env bash
# Times a clean debug build of a fresh CPG-only user program (a new crate
# depending on `corosync` by path, default-features = false, features =
# ["cpg"]) built two ways, alternating, in one run:
#   committed  corosync-sys's default: the committed bindings, no bindgen;
#   bindgen    the same program with corosync-sys's `bindgen` feature: bindgen
#              (with syn, regex, clang-sys) compiled and run at build time;
#   OLD_REF    (only when given) the same program against that git ref's code,
#              e.g. `main` before the committed bindings became the default.
#
#   scripts/bench-build.sh [ROUNDS [OLD_REF]]      (ROUNDS: default 3)
#
# Every build starts from an empty target folder; the crates come from the
# local registry cache (--offline), with the versions of Cargo.lock. Prints
# each build's time with the load average before it (other builds on the
# machine slow every variant; alternating spreads that over all of them),
# then the median and the fastest of each variant.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
old_ref=${2:-}
unset RUSTC_WRAPPER CARGO_TARGET_DIR RUSTFLAGS

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# program NAME CRATES_ROOT LOCKFILE [EXTRA_DEPENDENCY_LINE]
program() {
    local dir="$tmp/$1"
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "cpg-user"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
corosync = { path = "$2/corosync", default-features = false, features = ["cpg"] }
${4:-}

[workspace]
EOF
    cat >"$dir/src/main.rs" <<'EOF'
use corosync::cpg::{Cpg, GroupName, Guarantee};

fn main() -> corosync::Result<()> {
    let cpg = Cpg::builder()
        .on_deliver(|_cpg, msg| println!("{}: {:?}", msg.nodeid, msg.data))
        .connect()?;
    cpg.join(&GroupName::new("bench-build")?)?;
    cpg.mcast(Guarantee::Agreed, b"hello")?;
    Ok(())
}
EOF
    cp "$3" "$dir/Cargo.lock"
}

variants=(committed bindgen)
program committed "$root" "$root/Cargo.lock"
program bindgen "$root" "$root/Cargo.lock" \
    "corosync-sys = { path = \"$root/corosync-sys\", default-features = false, features = [\"bindgen\"] }"
if [ -n "$old_ref" ]; then
    mkdir "$tmp/old-src"
    git archive "$old_ref" | tar -x -C "$tmp/old-src"
    program "$old_ref" "$tmp/old-src" "$tmp/old-src/Cargo.lock"
    variants+=("$old_ref")
fi

echo "bench-build: $(nproc) cores, $(rustc --version), corosync $(pkg-config --modversion libcpg), $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-6s %-12s %9s %8s\n' round variant seconds load
for round in $(seq "$rounds"); do
    # Alternate the order too, so neither variant always goes first.
    order=("${variants[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        mapfile -t order < <(printf '%s\n' "${variants[@]}" | tac)
    fi
    for variant in "${order[@]}"; do
        target="$tmp/target-$variant"
        rm -rf "$target"
        load=$(cut -d' ' -f1 /proc/loadavg)
        begin=$(date +%s.%N)
        if ! CARGO_TARGET_DIR="$target" cargo build --offline --quiet \
            --manifest-path "$tmp/$variant/Cargo.toml" 2>"$tmp/err"; then
            cat "$tmp/err" >&2
            echo "bench-build: the $variant build failed" >&2
            exit 1
        fi
        end=$(date +%s.%N)
        seconds=$(echo "$end - $begin" | bc)
        printf '%-6s %-12s %9.1f %8s\n' "$round" "$variant" "$seconds" "$load"
        echo "$variant $seconds" >>"$tmp/times"
    done
done

echo
printf '%-12s %9s %9s\n' variant median fastest
for variant in "${variants[@]}"; do
    mapfile -t times < <(awk -v v="$variant" '$1 == v { print $2 }' "$tmp/times" | sort -g)
    n=${#times[@]}
    if [ $((n % 2)) -eq 1 ]; then
        median=${times[$((n / 2))]}
    else
        median=$(echo "(${times[$((n / 2 - 1))]} + ${times[$((n / 2))]}) / 2" | bc -l)
    fi
    printf '%-12s %9.1f %9.1f\n' "$variant" "$median" "${times[0]}"
done
