#!/usr/bin/env bash
# Every GPU figure at once, on a lent GPU (about 10 minutes on an H100):
#   bash bench/gpu_check.sh [OUT.md]
# 1. bench/rehearsal.py at 512 px on CUDA: the workflow on builtin:sd15-random, with each
#    job's wall time, peak GPU memory and bytes beside the plan's figures;
# 2. bench/run.py --device cuda: stylesweep against stock diffusers at SD 1.5 size.
# Both tables go to OUT.md (default: gpu-check.md; $OUT/gpu-check.md when $OUT is set).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-.}/gpu-check.md}
python=${PYTHON:-python}
[ -x .venv/bin/python ] && python=.venv/bin/python
{
    echo "# GPU check, $(date -u +%Y-%m-%d), $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)"
    echo
    "$python" bench/rehearsal.py --device cuda --size 512 --workdir "${TMPDIR:-/tmp}/stylesweep-gpu-rehearsal"
    echo
    "$python" bench/run.py --device cuda
} 2>&1 | tee "$out"
echo "gpu_check: the tables are in $out"
