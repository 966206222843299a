#!/usr/bin/env bash
# What the Makefile needs beyond what pip installs, found or installed here so `make test`
# works on a fresh Debian/Ubuntu machine:
#   ensure-tools.sh python      Python 3.11+ with venv (Debian splits venv into python3-venv)
#   ensure-tools.sh prometheus  promtool and prometheus (Debian's prometheus package), which
#                               the container tests run for real; they are never skipped
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
    if ! { $SUDO apt-get update -qq && \
           $SUDO apt-get install -y -qq --no-install-recommends "$@"; } >/dev/null; then
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

for tool in "$@"; do
    case "$tool" in
        python) ensure_python ;;
        prometheus) ensure_prometheus ;;
        *) say "ensure-tools.sh: unknown tool $tool"; exit 2 ;;
    esac
done
