#!/usr/bin/env bash
# Checks the declared minimum versions, of the dependencies and of Rust:
#  1. corosync-sys, corosync and corosync-testkit, every feature on (tokio,
#     bindgen), resolved to the lowest version of each dependency that their Cargo.toml allows
#     (nightly cargo, -Z direct-minimal-versions), built and unit-tested with
#     the minimum supported Rust (the workspace's rust-version);
#  2. the README's advice for users of that Rust, run as written: a user
#     program depending on both crates with every feature, its lock file
#     resolved by that Rust's own cargo (the newest versions, as an old cargo
#     picks them), the advice's commands run, then built with that Rust.
#  3. the whole workspace (tools, tests) with its committed Cargo.lock
#     compiles with that Rust, which the README and scripts/setup.sh ask
#     contributors for.
# The workspace's Cargo.lock is left alone: both resolve in copies. Builds
# are cached in target/minimal-versions/. Installs the toolchains it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/target/minimal-versions

msrv=$(sed -n 's/^rust-version = "\([0-9.]*\)"$/\1/p' Cargo.toml)
[[ -n $msrv ]] || { echo "minimal-versions: no rust-version in Cargo.toml" >&2; exit 1; }
for toolchain in "$msrv" nightly; do
    rustup run "$toolchain" cargo --version >/dev/null 2>&1 ||
        rustup toolchain install "$toolchain" --profile minimal
done

# Every place that names the minimum Rust names this one.
for file in README.md corosync/README.md corosync-sys/README.md; do
    named=$(grep -Eo 'Rust (toolchain \()?1\.[0-9]+ or newer' "$file" | grep -Eo '1\.[0-9]+' | sort -u)
    if [[ $named != "$msrv" ]]; then
        echo "minimal-versions: $file names Rust ${named:-(none)} or newer; rust-version is $msrv" >&2
        exit 1
    fi
done
grep -q "required $msrv;" scripts/setup.sh ||
    { echo "minimal-versions: scripts/setup.sh does not require Rust $msrv" >&2; exit 1; }

# The advice: the commands of the ```sh block after the marker comment, the
# same in the workspace README and the corosync crate's README.
advice() {
    awk '/<!-- msrv-advice/ { marked = 1; next }
         marked && /^```sh$/ { inside = 1; next }
         inside && /^```$/ { exit }
         inside { print }' "$1"
}
commands=$(advice README.md)
if [[ -z $commands || $commands != "$(advice corosync/README.md)" ]]; then
    echo "minimal-versions: README.md and corosync/README.md must give the same MSRV advice" \
        "(a \`\`\`sh block after an <!-- msrv-advice --> comment)" >&2
    exit 1
fi

echo "--- the three published crates at their dependencies' lowest versions, Rust $msrv"
# A workspace of only the published crates: the tests crate's and the
# tools' own dependencies are not part of what users get.
ws=$work/ws
rm -rf "$ws"
mkdir -p "$ws"
cp -a Cargo.toml Cargo.lock corosync-sys corosync testkit "$ws/"
sed -i 's/^members = .*/members = ["corosync-sys", "corosync", "testkit"]/' "$ws/Cargo.toml"
grep -qx 'members = \["corosync-sys", "corosync", "testkit"\]' "$ws/Cargo.toml" ||
    { echo "minimal-versions: could not narrow the workspace's members" >&2; exit 1; }
# Direct dependencies at their lower bounds; the rest at their newest
# versions that declare support for rust-version.
(cd "$ws" && cargo +nightly update --quiet -Z direct-minimal-versions \
    --config 'resolver.incompatible-rust-versions="fallback"')
for crate in corosync-sys corosync corosync-testkit; do
    (cd "$ws" && cargo +"$msrv" tree --quiet --locked --all-features --depth 1 \
        -e normal,build,dev -p "$crate")
done
(cd "$ws" && cargo +"$msrv" test --quiet --locked --all-features --lib \
    -p corosync-sys -p corosync -p corosync-testkit --target-dir "$work/target")

echo "--- a user program on Rust $msrv, its lock resolved by that cargo, after the README's advice:"
echo "$commands"
user=$(mktemp -d) # outside the workspace: no .cargo/config.toml of ours applies
mkdir "$user/src"
cat >"$user/Cargo.toml" <<EOF
[package]
name = "msrv-user"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
corosync = { path = "$root/corosync", features = ["tokio"] }
corosync-sys = { path = "$root/corosync-sys", features = ["bindgen"] }

[workspace]
EOF
cat >"$user/src/main.rs" <<'EOF'
fn main() {
    println!("{:?}", corosync::Error::from_code(corosync_sys::CS_ERR_TRY_AGAIN));
}
EOF
(
    cd "$user"
    export RUSTUP_TOOLCHAIN=$msrv
    cargo generate-lockfile --quiet
    bash -euo pipefail -c "$commands"
    cargo build --quiet --locked --target-dir "$work/user-target"
)
rm -rf "$user"

echo "--- the workspace with its committed Cargo.lock, every target and feature, Rust $msrv"
cargo +"$msrv" check --quiet --locked --workspace --all-targets --all-features \
    --target-dir "$work/workspace"
