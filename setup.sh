#!/usr/bin/env bash
# Set up stylesweep in .venv (Python 3.11): `bash setup.sh` for the workflow,
# `bash setup.sh test` for the workflow plus the test tools and Chromium. Safe to rerun:
# it installs again only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3.11}
command -v "$python" > /dev/null || python=python3
extras=""
[ "${1:-}" = "test" ] && extras="[test]"

# The report's browser tests drive Debian's Chromium (Playwright cannot download its own
# browser here, and needs none: the tests point it at /usr/bin/chromium).
if [ -n "$extras" ] && ! command -v chromium > /dev/null; then
    echo "Installing Debian's chromium for the report's browser tests..."
    as_root=""
    [ "$(id -u)" -eq 0 ] || as_root="sudo"
    if ! { $as_root apt-get update -qq &&
        $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
        > /tmp/stylesweep-apt.log 2>&1; then
        tail -n 20 /tmp/stylesweep-apt.log
        echo "setup.sh: apt-get install chromium failed (log: /tmp/stylesweep-apt.log);" \
            "install Chromium yourself or set STYLESWEEP_CHROMIUM to its binary" >&2
        exit 1
    fi
fi

stamp=".venv/.installed${extras}"
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
echo "Installing stylesweep${extras} into .venv (first time: a few minutes, about 6 GB)..."
# torch and torchvision come as a matching pair from the package index (see README).
if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".${extras}" \
    > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log
    echo "setup.sh: pip install failed; the whole log is in .venv/install.log" >&2
    exit 1
fi
if [ -n "$extras" ]; then
    # tests/test_slurm.py's executor plugin, kept off the import path of every other run
    # (see pyproject.toml); pandas is its one dependency that .venv does not hold already.
    if ! .venv/bin/python -m pip install --disable-pip-version-check --no-deps --upgrade \
        --target .venv/slurm-plugin "snakemake-executor-plugin-slurm>=2.8,<3" \
        "snakemake-executor-plugin-slurm-jobstep>=0.6" "pandas>=2" \
        >> .venv/install.log 2>&1; then
        tail -n 30 .venv/install.log
        echo "setup.sh: installing the SLURM plugin for the tests failed (.venv/install.log)" >&2
        exit 1
    fi
fi
echo "$wanted" > "$stamp"
