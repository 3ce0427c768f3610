"""python -m stylesweep.plan [--configfile FILE ...] [--gpu-memory GB] [--json]

Reads the config as `snakemake` does (config.yaml, then each --configfile over it) and
prints what the sweep will cost: runs, checkpoints, images and frames; the bytes each stage
writes; each training run's peak GPU memory; and GPU hours on a few GPUs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from stylesweep.plan import GIB, gpu_hours, make_plan, size
from stylesweep.plan.disk import summarise
from stylesweep.plan.memory import training_memory
from stylesweep.plan.tensors import component_tables
from stylesweep.sweep import checkpoint_steps

# The memory savers, from the least change to the most (stylesweep.train's settings).
SAVERS = {
    "gradient_checkpointing": [True],
    "mixed_precision": ["bf16"],
    "optimizer": ["adamw8bit"],
}


def fitting_settings(plan, run: str, budget: int) -> tuple[dict, int]:
    """The fewest changes to a run's memory savers that fit `budget` bytes (or, when none
    fits, the smallest configuration found, and its bytes)."""
    settings = plan.runs[run]
    tables = component_tables(plan.config["base_model"])
    resolution = plan.config["dataset"]["resolution"]
    best: tuple[dict, int] | None = None
    names = list(SAVERS)
    for count in range(1, len(names) + 1):
        for chosen in itertools.combinations(names, count):
            change = {name: SAVERS[name][0] for name in chosen if settings[name] != SAVERS[name][0]}
            if not change:
                continue
            total = training_memory(
                tables, {**settings, **change}, plan.config["base_model"], resolution
            ).total
            if total <= budget:
                return change, total
            if best is None or total < best[1]:
                best = (change, total)
    if settings["method"] == "dreambooth":  # LoRA trains adapters only
        change = {**{n: v[0] for n, v in SAVERS.items()}, "method": "lora"}
        total = training_memory(
            tables, {**settings, **change}, plan.config["base_model"], resolution
        ).total
        if total <= budget or best is None or total < best[1]:
            best = (change, total)
    return best or ({}, plan.memory[run].total)


def as_yaml(change: dict) -> str:
    return ", ".join(
        f"train.{k}: {json.dumps(v) if isinstance(v, bool) else v}" for k, v in change.items()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stylesweep.plan", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--configfile", nargs="+", default=[], help="config files over config.yaml")
    parser.add_argument(
        "--gpu-memory", type=float, help="the GPU's memory in GB (GiB), to check each run against"
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--directory", default=".", help="the project folder (default: here)")
    args = parser.parse_args(argv)

    from stylesweep.config import ConfigError, load_schema, train_keys, workflow_config
    from stylesweep.keys import BadKey
    from stylesweep.sources import BaseModelError

    root = Path(args.directory)
    try:
        config = workflow_config(root, args.configfile)
        order = train_keys(load_schema(root / "schemas" / "config.schema.yaml"))
        plan = make_plan(config, order, with_memory=True)
    except (ConfigError, BadKey, BaseModelError, FileNotFoundError, ValueError) as error:
        print(f"stylesweep.plan: {error}", file=sys.stderr)
        return 1
    hours = {run: gpu_hours(flops) for run, flops in plan.flops.items()}
    totals = {gpu: sum(h[gpu] for h in hours.values()) for gpu in next(iter(hours.values()))}
    if args.json:
        print(
            json.dumps(
                {
                    "disk_bytes": plan.disk_bytes,
                    "transient_bytes": plan.transient,
                    "stages": summarise(plan.items),
                    "runs": {
                        run: {
                            "method": s["method"],
                            "train_steps": s["max_steps"],
                            "checkpoints": len(checkpoint_steps(s)),
                            "gpu_memory_bytes": plan.memory[run].total,
                            "gpu_memory": plan.memory[run].__dict__,
                        }
                        for run, s in plan.runs.items()
                    },
                    "images": plan.counts["images"],
                    "sample_gpu_memory_bytes": plan.memory["sample"].total,
                    "score_gpu_memory_bytes": plan.memory["score"].total,
                    "counts": plan.counts,
                    "gpu_hours": totals,
                },
                indent=2,
            )
        )
        return 0

    print(f"stylesweep plan ({config['base_model']}): {plan.summary()}\n")
    print("Disk, by stage:")
    for stage, count in summarise(plan.items).items():
        print(f"  {stage:<10} {size(count):>10}")
    print(f"  {'total':<10} {size(plan.disk_bytes):>10}")
    print(f"  and up to {size(plan.transient)} more while training (resume states)\n")
    budget = args.gpu_memory * GIB if args.gpu_memory else None
    print("Training runs (peak GPU memory: weights + gradients + optimizer + activations + CUDA):")
    problems = []
    for run, settings in plan.runs.items():
        memory = plan.memory[run]
        parts = " + ".join(
            f"{size(getattr(memory, k))}"
            for k in ("weights", "gradients", "optimizer", "activations", "overhead")
        )
        fits = "" if budget is None else ("  fits" if memory.total <= budget else "  DOES NOT FIT")
        print(
            f"  {run:<28} {settings['method']:<18} {settings['max_steps']:>6} steps  "
            f"{memory.total / GIB:6.1f} GiB ({parts}){fits}"
        )
        if budget is not None and memory.total > budget:
            problems.append(run)
    from stylesweep.score import SCORE_BATCH  # torch is loaded by now

    for job, batch, weights, key in (
        ("sampling", config["sample"]["batch_size"], "fp16 weights", "sample"),
        ("scoring", SCORE_BATCH, "fp32 CLIP, style and structure models", "score"),
    ):
        memory = plan.memory[key]
        fits = "" if budget is None else ("  fits" if memory.total <= budget else "  DOES NOT FIT")
        print(
            f"  {job:<28} {'batch ' + str(batch):<18} {'':>12}  {memory.total / GIB:6.1f} GiB "
            f"({weights} {size(memory.weights)} + activations {size(memory.activations)}){fits}"
        )
    if budget is not None and plan.memory["sample"].total > budget:
        print("  sampling: lower sample.batch_size (the images do not depend on it)")
    print("\nGPU hours (training and sampling), at the blog's T4 pace scaled by datasheet peak:")
    print("  " + "  ".join(f"{gpu} {value:.1f} h" for gpu, value in totals.items()))
    for run in problems:
        change, total = fitting_settings(plan, run, budget)
        if total <= budget:
            print(
                f"\n{run} needs {plan.memory[run].total / GIB:.1f} GiB, more than "
                f"{args.gpu_memory:g}; with {as_yaml(change)} it needs {total / GIB:.1f} GiB"
            )
        else:
            print(
                f"\n{run}: no setting fits {args.gpu_memory:g} GiB; the smallest the plan found "
                f"is {as_yaml(change)}, at {total / GIB:.1f} GiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
