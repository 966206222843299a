#!/usr/bin/env bash
# dev-venv.sh VENV: the project's venv, made in seconds from a cached copy of its dependencies.
#
# pip takes about a minute to install the dev and sdk extras into a fresh venv, on every clone.
# The dependencies are the same for every clone of the same pyproject.toml, so they are installed
# once into ~/.cache/stampede/dev-venvs/<key> (key: pyproject.toml, this script and the Python
# version) and each clone copies that venv (about 1 s for 500 MB), points its scripts and
# activate files at the copy, and installs the project itself there, editable, with no deps.
# A venv is not relocatable by itself only because its scripts name their interpreter by its
# absolute path; those lines are rewritten. The cache is built under a lock, so clones that
# start at once build it once. STAMPEDE_DEV_VENV_CACHE=off makes a plain venv instead.
set -euo pipefail

venv=${1:?usage: dev-venv.sh VENV}
python=${PYTHON:-python3}
extras='.[dev,sdk]'

plain() {
    "$python" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --upgrade pip
    "$1/bin/python" -m pip install --quiet "${@:2}"
}

if [ "${STAMPEDE_DEV_VENV_CACHE:-on}" = "off" ]; then
    plain "$venv" -e "$extras"
    exit 0
fi

key=$({ cat pyproject.toml "$0"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
root=${XDG_CACHE_HOME:-$HOME/.cache}/stampede/dev-venvs
cache=$root/$key
mkdir -p "$root"
(
    flock 9
    if [ ! -f "$cache/ready" ]; then
        echo "make: installing the dependencies once into $cache (later clones copy it)" >&2
        rm -rf "$cache"
        plain "$cache" "$extras" "setuptools>=68" wheel  # the build's own needs, for -e below
        # The dependencies only: each clone installs the project itself, from its own tree.
        "$cache/bin/python" -m pip uninstall --quiet --yes stampede
        touch "$cache/ready"
    fi
) 9>"$root/$key.lock"

rm -rf "$venv"
cp -a "$cache" "$venv"
rm -f "$venv/ready"
target=$(cd "$venv" && pwd)
# Every text file in bin/ that names the cache's path (script shebangs, activate files).
grep -rlI --null -F "$cache" "$venv/bin" | xargs -0 -r sed -i "s#$cache#$target#g"
sed -i "s#$cache#$target#g" "$venv/pyvenv.cfg"
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
