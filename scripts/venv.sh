#!/usr/bin/env bash
# Sourced by serve.sh and test.sh: make the project's virtual environment (.venv, or
# $L3A_VENV) and install into it, editable, the target given as argument (`.` or `.[test]`).
#
# A virtual environment because Debian's system Python is externally managed (PEP 668):
# `pip install` into it stops with `externally-managed-environment`. Debian ships venv in
# its own package (python3-venv); it is installed when missing.
l3a_venv="${L3A_VENV:-$PWD/.venv}"
if [ ! -x "$l3a_venv/bin/python" ]; then
    if ! python3 -m venv "$l3a_venv" >/dev/null 2>&1; then
        rm -rf "$l3a_venv"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        python3 -m venv "$l3a_venv"
    fi
fi
"$l3a_venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$l3a_venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$1"
export PATH="$l3a_venv/bin:$PATH"
