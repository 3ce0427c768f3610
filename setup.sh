#!/usr/bin/env bash
# Set up stylesweep in .venv (Python 3.11): `bash setup.sh` for the workflow,
# `bash setup.sh test` for the workflow plus the test tools. Safe to rerun: it installs
# again only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3.11}
command -v "$python" > /dev/null || python=python3
extras=""
[ "${1:-}" = "test" ] && extras="[test]"

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
echo "$wanted" > "$stamp"
