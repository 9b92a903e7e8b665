#!/usr/bin/env bash
# Build the roam container image without pulling anything from a container
# registry.
#
#   deploy/build-image.sh PATH/TO/roam [IMAGE]
#
# 1. If the base image (default roam-base:local) is missing, make it: a Debian
#    "minbase" rootfs built with debootstrap from Debian's package mirror, with
#    git, ca-certificates and tini added, imported with `docker import`. This is
#    the only step that needs the network (Debian's package mirror) and needs
#    root (debootstrap itself is apt-get installed if missing). It runs once;
#    the result is cached as a local image.
# 2. Build IMAGE (default roam:local) from deploy/Dockerfile, with a throwaway
#    build context holding bin/roam, bin/roam-holder (and bin/roam-test-agent when it sits next
#    to the given roam binary).
# 3. Check that the binary actually runs inside the image (glibc etc.).
#
# Environment:
#   ROAM_BASE_IMAGE    base image name             (default roam-base:local)
#   ROAM_BASE_SUITE    Debian suite to bootstrap   (default bookworm)
#   ROAM_BASE_MIRROR   Debian mirror URL           (default: debootstrap's own)
#   ROAM_REBUILD_BASE  1 = rebuild the base even if it exists (picks up fixes)
#
# The roam binary is dynamically linked against glibc: build it on a system
# whose glibc is not newer than the base suite's (bookworm: 2.36), e.g. on
# Debian bookworm itself, or the image check at the end fails.
set -euo pipefail

usage() {
    echo "usage: $0 PATH/TO/roam [IMAGE]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
roam_bin=$1
image=${2:-roam:local}
base_image=${ROAM_BASE_IMAGE:-roam-base:local}
suite=${ROAM_BASE_SUITE:-bookworm}
mirror=${ROAM_BASE_MIRROR:-}
rebuild_base=${ROAM_REBUILD_BASE:-0}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
    echo "build-image: error: $*" >&2
    exit 1
}
log() {
    echo "build-image: $*" >&2
}

[[ -f $roam_bin && -x $roam_bin ]] || die "roam binary not found or not executable: $roam_bin"
command -v docker >/dev/null || die "docker not found"
docker info >/dev/null 2>&1 || die "cannot talk to the docker daemon"

rootfs=""
context=""
cleanup() {
    if [[ -n $rootfs && -d $rootfs ]]; then
        # debootstrap mounts proc/sys inside the target; never rm through a mount.
        local m
        while IFS= read -r m; do
            umount -l "$m" 2>/dev/null || true
        done < <(awk -v r="$rootfs" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
        rm -rf --one-file-system "$rootfs"
    fi
    if [[ -n $context && -d $context ]]; then
        rm -rf "$context"
    fi
}
trap cleanup EXIT

build_base() {
    [[ $(id -u) -eq 0 ]] || die "building $base_image needs root (debootstrap); run as root or build it once with sudo"
    if ! command -v debootstrap >/dev/null && command -v apt-get >/dev/null; then
        log "installing debootstrap with apt-get"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >&2 \
            || die "could not install debootstrap"
    fi
    command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"

    local t0 t1 t2
    t0=$(date +%s)
    rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/roam-rootfs.XXXXXX")
    chmod 755 "$rootfs"
    log "bootstrapping Debian $suite (minbase + git, ca-certificates, tini) into $rootfs"
    local packages=git,ca-certificates,tini
    local -a args=(--variant=minbase "--include=$packages" "$suite" "$rootfs")
    if [[ -n $mirror ]]; then
        args+=("$mirror")
    fi
    debootstrap "${args[@]}" >"$rootfs.log" 2>&1 || {
        tail -n 30 "$rootfs.log" >&2
        rm -f "$rootfs.log"
        die "debootstrap failed"
    }
    rm -f "$rootfs.log"
    t1=$(date +%s)
    log "debootstrap took $((t1 - t0))s"

    # Security updates: debootstrap only sees the main suite. When the host runs
    # the same Debian suite, reuse its apt sources (which include the security
    # suite) and upgrade inside the rootfs. Best effort.
    local host_codename=""
    if [[ -r /etc/os-release ]]; then
        host_codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')
    fi
    if [[ $host_codename == "$suite" ]]; then
        log "applying $suite updates using the host's apt sources"
        local sources_d="$rootfs/etc/apt/sources.list.d"
        cp "$rootfs/etc/apt/sources.list" "$rootfs/etc/apt/sources.list.debootstrap"
        if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null \
            || compgen -G "/etc/apt/sources.list.d/*.list" >/dev/null; then
            : >"$rootfs/etc/apt/sources.list"
            cp /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list "$sources_d/" 2>/dev/null || true
        elif [[ -f /etc/apt/sources.list ]]; then
            cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
        fi
        if ! chroot "$rootfs" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade' \
            >"$rootfs.log" 2>&1; then
            tail -n 20 "$rootfs.log" >&2
            log "warning: upgrade inside the rootfs failed; continuing with the bootstrapped packages"
        fi
        rm -f "$rootfs.log"
        # Leave the image with the plain sources debootstrap wrote, not the host's.
        find "$sources_d" -mindepth 1 -delete
        mv "$rootfs/etc/apt/sources.list.debootstrap" "$rootfs/etc/apt/sources.list"
    fi

    # Slim down: package caches, lists, logs and manuals are not needed at
    # runtime (/usr/share/doc stays: it carries the packages' copyright files).
    chroot "$rootfs" apt-get clean >/dev/null 2>&1 || true
    rm -rf --one-file-system "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    # The container's hostname/resolv.conf/hosts are provided by the runtime.
    : >"$rootfs/etc/hostname"
    rm -f "$rootfs/etc/resolv.conf"

    log "importing rootfs as $base_image"
    local old_base
    old_base=$(docker image inspect -f '{{.Id}}' "$base_image" 2>/dev/null || true)
    tar --numeric-owner -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "roam base: debian $suite minbase + git ca-certificates tini" \
        - "$base_image" >/dev/null
    t2=$(date +%s)
    log "base image $base_image ready ($((t2 - t0))s in all)"
    if [[ -n $old_base ]]; then
        docker rmi "$old_base" >/dev/null 2>&1 || true
    fi
    cleanup
    rootfs=""
}

if [[ $rebuild_base == 1 ]] || ! docker image inspect "$base_image" >/dev/null 2>&1; then
    build_base
else
    log "using existing base image $base_image (ROAM_REBUILD_BASE=1 to rebuild)"
fi

context=$(mktemp -d "${TMPDIR:-/tmp}/roam-image-ctx.XXXXXX")
mkdir -p "$context/bin"
cp "$roam_bin" "$context/bin/roam"
# Every agent runs in a holder, installed beside roam.
holder_bin="$(dirname "$roam_bin")/roam-holder"
[[ -f $holder_bin && -x $holder_bin ]] || die "roam-holder not found beside $roam_bin (cargo build -p roam-cli builds both)"
cp "$holder_bin" "$context/bin/roam-holder"
agent_bin="$(dirname "$roam_bin")/roam-test-agent"
if [[ -f $agent_bin && -x $agent_bin ]]; then
    cp "$agent_bin" "$context/bin/roam-test-agent"
fi

log "building $image from $base_image"
old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
t0=$(date +%s)
docker build --build-arg "BASE=$base_image" -f "$here/Dockerfile" -t "$image" "$context" >&2 \
    || die "docker build failed"
t1=$(date +%s)
log "image build took $((t1 - t0))s"
# Drop the image this one replaced (fails harmlessly if still in use or tagged).
new_id=$(docker image inspect -f '{{.Id}}' "$image")
if [[ -n $old_id && $old_id != "$new_id" ]]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
fi

# The binary must start inside the image (catches a glibc mismatch).
docker run --rm --entrypoint /usr/local/bin/roam "$image" --help >/dev/null \
    || die "roam does not run inside $image (built against a newer glibc than the base has?)"
docker run --rm --entrypoint git "$image" --version >/dev/null \
    || die "git does not run inside $image"

log "done: $image"
