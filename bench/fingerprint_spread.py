"""How far each stage's output moves between machines, in units of the fingerprints'
tolerances (tests/fingerprints.py): the stage chain of tests/test_stage_versions.py is run
under other float kernels and thread counts, a stand-in for another CPU, and compared with a
run as this machine runs it. A distance under 1 passes; the margin to 1 is the safety.

    python bench/fingerprint_spread.py            # every setting below
    python bench/fingerprint_spread.py --settings threads-1 avx2

The settings: torch threads (reductions split differently), ATen's vector kernels
(ATEN_CPU_CAPABILITY: avx512, avx2 or none), oneDNN's and MKL's instruction sets (a CPU
without AVX-512, as the AMD EPYC of issue #20, or an older one), and all of them together.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fingerprints import ANOTHER_MACHINE, NO_AVX512, ONE_THREAD, differences  # noqa: E402

SETTINGS = {
    "threads-1": ONE_THREAD,
    "threads-3": {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"},
    "avx2": NO_AVX512,
    "no-vector": {
        "ATEN_CPU_CAPABILITY": "default",
        "DNNL_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    },  # fmt: skip
    "avx2-threads-1": ANOTHER_MACHINE,  # the one tests/test_stage_versions.py uses
}


def chain_summaries(env: dict[str, str], folder: Path, name: str) -> dict:
    """The stage chain's summaries from a fresh interpreter with `env` added."""
    out = folder / f"{name}.json"
    subprocess.run([sys.executable, "-m", "tests.stage_chain", str(out)], cwd=REPO, check=True,
                   env={**os.environ, **env}, capture_output=True)  # fmt: skip
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        native = chain_summaries({}, Path(folder), "native")
        rows = {}
        for name in args.settings:
            other = chain_summaries(SETTINGS[name], Path(folder), name)
            rows[name] = {stage: max(differences(other[stage], native[stage]), default=(0, ""))
                          for stage in native}  # fmt: skip
    stages = sorted(native)
    print("| stage | " + " | ".join(args.settings) + " | where (worst setting) |")
    print("| --- |" + " --- |" * (len(args.settings) + 1))
    for stage in stages:
        cells = [rows[name][stage][0] for name in args.settings]
        where = max((rows[name][stage] for name in args.settings), key=lambda x: x[0])[1]
        print(f"| {stage} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {where} |")


if __name__ == "__main__":
    main()
