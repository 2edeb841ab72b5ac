#!/usr/bin/env bash
# Runs a 3-node corosync cluster in podman containers and checks it with
# the bindings from inside the containers (containers/README.md):
# installs what is missing (podman, runc, debootstrap, ...), makes a
# Debian 12 base image without a registry when none answers, builds the
# node image from containers/Containerfile, starts three node containers
# on a podman network of their own with static addresses, and runs
# `container-test` (tests/src/bin/container-test.rs): quorum, CPG
# membership and agreed order, the runner's sidecar pattern, quorum lost
# with two nodes killed and back when they restart.
#
# Removes the containers and the network it made, also on failure; keeps
# the images for the next run unless given --remove-images. Prints one
# summary line; exits non-zero on any failure. Needs root.
#
# Options: --remove-images   also remove the images this run built
#          --base IMAGE      build the node image on IMAGE (a Debian 12)
# Environment: CONTAINER_TEST_SUBNET (default 10.89.117, a /24 for the
# network; the nodes are .11, .12, .13).
set -euo pipefail
cd "$(dirname "$0")/.."

name=corosync-rs-ct
network=$name-net
nodes=("$name-node1" "$name-node2" "$name-node3")
subnet=${CONTAINER_TEST_SUBNET:-10.89.117}
base_image=localhost/corosync-rs-base:bookworm
node_image=localhost/corosync-rs-node:bookworm
remove_images=0
base=""

while (($#)); do
    case $1 in
        --remove-images) remove_images=1 ;;
        --base) base=${2:?--base needs an image}; shift ;;
        *) echo "usage: $0 [--remove-images] [--base IMAGE]" >&2; exit 2 ;;
    esac
    shift
done

start=$(date +%s)
phase="start"
built=()
work=""
checker=""
say() { echo "container-test: $* ($(( $(date +%s) - start ))s)"; }

cleanup() {
    local status=$?
    set +e
    [[ -n $checker ]] && kill "$checker" 2>/dev/null
    for node in "${nodes[@]}"; do
        podman container exists "$node" 2>/dev/null && podman rm -f -t 0 "$node" >/dev/null
    done
    podman network exists "$network" 2>/dev/null && podman network rm "$network" >/dev/null
    if ((remove_images)); then
        # The node image first: it is made from the base.
        for ((i = ${#built[@]} - 1; i >= 0; i--)); do podman rmi "${built[i]}" >/dev/null; done
    fi
    [[ -n $work ]] && rm -rf "$work"
    local took=$(( $(date +%s) - start ))
    if ((status == 0)); then
        echo "container-test: PASSED: 3 node containers: quorum, CPG membership and agreed order, sidecar, quorum lost and back (${took}s)"
    else
        echo "container-test: FAILED in $phase (exit $status, ${took}s)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [[ $(id -u) -ne 0 ]]; then
    echo "container-test: must run as root (podman networks with static addresses, debootstrap); try: sudo $0" >&2
    exit 1
fi

work=$(mktemp -d)

phase="installing what is missing"
scripts/setup.sh
packages=(podman runc netavark aardvark-dns containernetworking-plugins debootstrap)
missing=()
updated=0
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    updated=1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Leftovers of an earlier run of this script (its own names only).
for node in "${nodes[@]}"; do
    podman container exists "$node" && podman rm -f -t 0 "$node" >/dev/null
done
podman network exists "$network" && podman network rm "$network" >/dev/null

phase="making the base image"
if [[ -n $base ]]; then
    say "base image: $base (given)"
elif podman image exists debian:bookworm; then
    base=debian:bookworm
    say "base image: $base (present)"
elif podman image exists "$base_image"; then
    base=$base_image
    say "base image: $base (made by an earlier run)"
elif timeout 60 podman pull -q debian:bookworm >/dev/null 2>&1; then
    base=debian:bookworm
    built+=("$base")
    say "base image: $base (pulled)"
else
    # No registry answers: a minimal Debian 12 from the mirror apt uses.
    bookworm_mirror() {
        apt-get indextargets --format '$(REPO_URI)' 'Codename: bookworm' 'Label: Debian' | head -n 1
    }
    mirror=$(bookworm_mirror)
    if [[ -z $mirror ]] && ((!updated)); then
        # apt has no package lists yet: read them once.
        apt-get update -qq
        mirror=$(bookworm_mirror)
    fi
    if [[ -z $mirror ]]; then
        echo "container-test: apt knows no bookworm repository to debootstrap from (see /etc/apt/sources.list*)" >&2
        exit 1
    fi
    say "no registry answers; debootstrap bookworm from apt's mirror $mirror"
    debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
    tar -C "$work/root" -c . | podman import -q - "$base_image" >/dev/null
    rm -rf "$work/root"
    base=$base_image
    built+=("$base")
    say "base image: $base (made with debootstrap)"
fi

phase="choosing the container runtime and limits"
# podman's default runtime (crun on Debian 12) may refuse the host's cgroup
# layout: runc is tried then. podman's default limits for root may exceed
# what root may set here (no CAP_SYS_RESOURCE): the host's hard limits are
# tried, then 20000 files and processes. The first that runs is used.
limit() { [[ $1 == unlimited ]] && echo 65536 || echo "$1"; }
podman_args=()
ulimits=()
chosen=0
for runtime in "" runc; do
    for limits in "$(limit "$(ulimit -Hn)") $(limit "$(ulimit -Hu)")" "20000 20000"; do
        read -r files procs <<<"$limits"
        try_args=(${runtime:+--runtime "$runtime"})
        try_limits=(--ulimit "nofile=$files" --ulimit "nproc=$procs")
        if podman "${try_args[@]}" run --rm --network none "${try_limits[@]}" "$base" true \
            >"$work/probe.log" 2>&1; then
            podman_args=("${try_args[@]}")
            ulimits=("${try_limits[@]}")
            chosen=1
            break 2
        fi
    done
done
if ((!chosen)); then
    cat "$work/probe.log" >&2
    echo "container-test: podman cannot run a container here, with its default runtime or runc" >&2
    exit 1
fi
say "runtime: ${podman_args[*]:-the default}; limits: ${ulimits[*]}"

phase="building the node image"
podman "${podman_args[@]}" build -q --network host "${ulimits[@]}" --build-arg "BASE=$base" \
    -t "$node_image" -f containers/Containerfile containers >/dev/null
built+=("$node_image")
say "node image: $node_image"

phase="building the test programs"
cargo build --quiet -p corosync-tests --bin container-test --bin cpg-member \
    -p corosync-tools --bin quorumtool --bin cpgtool
mkdir "$work/bin"
for program in cpg-member quorumtool cpgtool; do
    cp "target/debug/$program" "$work/bin/"
done
mount=(--volume "$work/bin:/opt/corosync-rs:ro")

phase="starting the node containers"
podman network create --subnet "$subnet.0/24" "$network" >/dev/null
addresses="$subnet.11,$subnet.12,$subnet.13"
for i in 1 2 3; do
    podman "${podman_args[@]}" run -d --name "${nodes[i - 1]}" --hostname "node$i" \
        --network "$network" --ip "$subnet.1$i" --ipc shareable "${ulimits[@]}" "${mount[@]}" \
        --env "COROSYNC_NODES=$addresses" "$node_image" >/dev/null 2>"$work/run.log" ||
        { cat "$work/run.log" >&2; exit 1; }
done
say "started ${nodes[*]} on $network ($subnet.0/24)"

phase="the checks (container-test)"
run_args=("${ulimits[@]}" "${mount[@]}")
args=()
for arg in "${podman_args[@]}"; do args+=(--podman-arg "$arg"); done
for arg in "${run_args[@]}"; do args+=(--run-arg "$arg"); done
# In the background, so that a signal to this script ends the checks and
# the tear-down runs at once.
timeout --kill-after=10 600 target/debug/container-test --image "$node_image" "${args[@]}" \
    "${nodes[@]}" &
checker=$!
if ! wait "$checker"; then
    for node in "${nodes[@]}"; do
        echo "--- the last lines of $node's log:" >&2
        podman logs --tail 30 "$node" >&2 || true
    done
    exit 1
fi
phase="tear-down"
