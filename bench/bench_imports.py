"""How fast a job starts: each stage module's import time against `import torch` in the same
run, and, from the logs of a finished workflow, each job's start-up, imports, model load and
work.

    python bench/bench_imports.py                 # import times (best of 3, fresh interpreters)
    python bench/bench_imports.py --logs logs     # plus the timing lines of a run's job logs
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from statistics import median

# The module each job imports, by rule.
STAGES = {
    "Snakefile (every call and job)": "stylesweep.sources, stylesweep.sweep, stylesweep.config",
    "prepare_dataset": "stylesweep.dataset",
    "prompt_variants": "stylesweep.prompts",
    "report, make_thumbnails": "stylesweep.report",
    "score": "stylesweep.score",
    "base_prompt": "stylesweep.interrogate",
    "encode_dataset, make_base_model": "stylesweep.base",
    "train": "stylesweep.train",
    "sample": "stylesweep.sample",
    "export": "stylesweep.export",
}


def import_seconds(modules: str, repeat: int = 3) -> float:
    """The best wall time of `import <modules>` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeat):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        times.append(float(result.stdout.strip().splitlines()[-1]))
    return min(times)


def job_timings(logs: Path) -> dict[str, list[dict[str, float]]]:
    """The timing line of every job log under `logs`, by rule (the log's first folder)."""
    found: dict[str, list[dict[str, float]]] = defaultdict(list)
    for path in sorted(logs.rglob("*.log")):
        lines = path.read_text().splitlines()
        line = next((text for text in lines if text.startswith("timing:")), None)
        if line is None:
            continue
        values = {k.strip(): float(v) for k, v in re.findall(r"([\w -]+?) ([\d.]+) s", line[7:])}
        top = path.relative_to(logs).parts[0]  # logs/<folder>/<rule>.log or logs/<rule>/...
        by_file = ("base", "dataset", "prompts", "report", "train")  # folders of several rules
        named_by_file = path.parent == logs / top and top in by_file
        found[path.stem if named_by_file else top].append(values)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=Path, help="the logs/ folder of a finished run")
    args = parser.parse_args()

    torch = import_seconds("torch")
    print(f"import torch: {torch:.2f} s (best of 3)\n")
    print("| job | module | import (s) | ratio to torch |\n| --- | --- | --- | --- |")
    for job, modules in STAGES.items():
        seconds = import_seconds(modules)
        print(f"| {job} | `{modules}` | {seconds:.2f} | {seconds / torch:.2f} |")

    if args.logs:
        print("\n| rule | jobs | start-up | imports | model load | work | total (median s) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        totals: dict[str, float] = defaultdict(float)
        for rule, rows in sorted(job_timings(args.logs).items()):
            parts = ("start-up", "imports", "model load", "work", "total")
            medians = [median(r.get(p, 0.0) for r in rows) for p in parts]
            for part in parts:
                totals[part] += sum(r.get(part, 0.0) for r in rows)
            print(f"| {rule} | {len(rows)} | " + " | ".join(f"{m:.1f}" for m in medians) + " |")
        share = (totals["start-up"] + totals["imports"] + totals["model load"]) / totals["total"]
        print(
            f"\nall jobs: {totals['total']:.0f} s, of which start-up, imports and model loads "
            f"{share:.0%} and work {totals['work'] / totals['total']:.0%}"
        )


if __name__ == "__main__":
    main()
