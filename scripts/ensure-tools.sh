#!/usr/bin/env bash
# What the Makefile needs beyond what pip installs, found or installed here so `make test`
# works on a fresh Debian/Ubuntu machine:
#   ensure-tools.sh python      Python 3.11+ with venv (Debian splits venv into python3-venv)
#   ensure-tools.sh prometheus  promtool and prometheus (Debian's prometheus package), which
#                               the container tests run for real; they are never skipped
#   ensure-tools.sh engine      a container engine for the stack test (tests/container/
#                               test_stack.py): a working podman or Docker; else Debian's podman
#                               with runc and netavark, plus mmdebstrap for the local base images
# Missing packages are installed with apt-get, as root or through passwordless sudo. Where that
# is impossible the script stops at once with one line giving the exact command to run.
set -euo pipefail

say() { echo "make: $*" >&2; }

if [ "${EUID:-$(id -u)}" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    SUDO="none"
fi

APT_UPDATED=""

# apt_install WHAT PACKAGE...: install the packages, or print the one command to run and fail.
apt_install() {
    local what=$1
    shift
    local cmd="sudo apt-get update && sudo apt-get install -y --no-install-recommends $*"
    if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
        say "$what missing; run: $cmd"
        exit 1
    fi
    say "installing $* with apt-get ($what missing) ..."
    export DEBIAN_FRONTEND=noninteractive
    # One `apt-get update` per run, however many tools are missing.
    if [ -z "$APT_UPDATED" ]; then
        $SUDO apt-get update -qq >/dev/null 2>&1 || { say "apt-get update failed; run: $cmd"; exit 1; }
        APT_UPDATED=1
    fi
    if ! $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
        say "installing $* failed; run: $cmd"
        exit 1
    fi
}

ensure_python() {
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install "python3" python3 python3-venv
    fi
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        say "Python 3.11+ needed, found $(python3 -V 2>&1); install one and put it first on PATH"
        exit 1
    fi
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        apt_install "python3 venv/ensurepip" "python3-venv"
    fi
}

ensure_prometheus() {
    command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && return 0
    apt_install "promtool/prometheus" prometheus
    # The package starts its own daemon on :9090; the tests run their own instances.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        $SUDO systemctl stop prometheus || true
    elif command -v service >/dev/null 2>&1; then
        $SUDO service prometheus stop >/dev/null 2>&1 || true
    fi
    command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && return 0
    say "prometheus installed but promtool/prometheus are not on PATH ($PATH)"
    exit 1
}

# The packages podman needs on Debian 12: runc (crun refuses cgroup v1 hosts), netavark and
# aardvark-dns (networks and service names), slirp4netns/fuse-overlayfs/uidmap (rootless),
# catatonit (compose's `init: true`); nftables to put netavark's tables back; mmdebstrap builds
# the base images when no registry is reachable (scripts/local_images.py).
ENGINE_PACKAGES="podman runc netavark aardvark-dns slirp4netns fuse-overlayfs uidmap catatonit nftables mmdebstrap"

ensure_engine() {
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 \
        && command -v mmdebstrap >/dev/null 2>&1; then
        return 0  # a Docker daemon answers; the stack test uses it when podman is absent
    fi
    local missing=""
    # netavark and catatonit live in /usr/lib(exec)/podman, off PATH.
    for cmd in podman runc /usr/lib/podman/netavark /usr/libexec/podman/catatonit nft mmdebstrap; do
        command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || missing="yes"
    done
    [ -z "$missing" ] && return 0
    # shellcheck disable=SC2086  # a list of package names
    apt_install "container engine (podman)" $ENGINE_PACKAGES
}

for tool in "$@"; do
    case "$tool" in
        python) ensure_python ;;
        prometheus) ensure_prometheus ;;
        engine) ensure_engine ;;
        *) say "ensure-tools.sh: unknown tool $tool"; exit 2 ;;
    esac
done
