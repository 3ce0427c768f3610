"""What a config will cost before any job runs: the runs, the bytes each stage writes, the
GPU memory of each training run, and GPU hours (`python -m stylesweep.plan`).

Nothing here loads weights: shapes come from the base model's component configs
(stylesweep.plan.tensors), activations and FLOPs from a pass on fake tensors
(stylesweep.plan.memory).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from stylesweep.plan.disk import Item, animation_frames, disk_items, transient_bytes
from stylesweep.plan.memory import (
    GIB,
    Memory,
    measure_activations,
    sampling_memory,
    training_memory,
)
from stylesweep.plan.scoring import scoring_memory
from stylesweep.plan.speed import gpu_hours, train_step_flops
from stylesweep.plan.tensors import component_tables
from stylesweep.prompts import make_variants
from stylesweep.settings import prompt_settings
from stylesweep.subjects import resolve_subjects
from stylesweep.sweep import expand_runs, is_control, model_labels, rendered_models


@dataclass
class Plan:
    config: dict
    runs: dict[str, dict]
    counts: dict[str, int]
    items: list[Item]
    transient: int  # more bytes on disk for a while during training (resume states)
    memory: dict[str, Memory] = field(default_factory=dict)  # runs, "sample" and "score"
    flops: dict[str, float] = field(default_factory=dict)

    @property
    def disk_bytes(self) -> int:
        return sum(item.bytes for item in self.items)

    def summary(self) -> str:
        counts = self.counts
        return (
            f"{len(self.runs)} runs, {counts['checkpoints']} checkpoints, "
            f"{counts['train_steps']} training steps, {counts['images']} images, "
            f"{counts['frames']} animation frames; writes {size(self.disk_bytes)}"
            f" (up to {size(self.transient)} more while training)"
        )


def size(count: float) -> str:
    """Bytes for a reader: 1.4 GB, 640 MB, 12 kB (powers of 1000, as disks are sold)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} B"


def count_stills(config: dict) -> int:
    stills = config["dataset"]["stills"]
    if stills == "builtin:demo":
        return config["dataset"]["demo_count"]
    from stylesweep.sources import IMAGE_SUFFIXES

    folder = Path(stills)
    return (
        sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if folder.is_dir()
        else 0
    )


def make_plan(config: dict, schema_order: list[str], with_memory: bool = False) -> Plan:
    """The plan of a checked config (stylesweep.config.workflow_config)."""
    runs = expand_runs(config["train"], schema_order)
    prompts = config["prompts"]
    bases = prompts["base_prompt"] if isinstance(prompts["base_prompt"], list) else [None]
    portraits = prompts["portrait"] if isinstance(prompts["portrait"], list) else [None]
    variants = len(
        make_variants(
            ["base prompt"] * max(len(bases), len(portraits)),
            config["train"]["key"],
            prompt_settings(prompts, resolve_subjects(prompts["subjects"])),
        )
    )
    sample = config["sample"]
    models = rendered_models(runs, prompts["words_baseline"])
    counts = {
        "stills": count_stills(config),
        "checkpoints": sum(not is_control(m) for m in models),
        "train_steps": sum(s["max_steps"] for s in runs.values()),
        "images": len(model_labels(models, sample["strengths"]))
        * variants
        * len(sample["seeds"])
        * len(sample["cfg_scales"]),
        "frames": sum(
            animation_frames(animation, config["dataset"]["stills"])
            for animation in config["animate"]["animations"].values()
        ),
    }
    tables = component_tables(config["base_model"])
    items = disk_items(config, tables, runs, counts)
    transient = transient_bytes(tables, runs, config["train"]["keep_resume"])
    plan = Plan(config, runs, counts, items, transient)
    if with_memory:
        resolution = config["dataset"]["resolution"]
        for run, settings in runs.items():
            plan.memory[run] = training_memory(tables, settings, config["base_model"], resolution)
            rows = settings["batch_size"] * settings["gradient_accumulation_steps"]
            forward = measure_activations(config["base_model"], resolution, rows, False, False)
            step = train_step_flops(forward.forward_flops, settings["gradient_checkpointing"])
            plan.flops[run] = step * settings["max_steps"]
        blends = any(s != 1 for s in sample["strengths"]) and any(
            settings["method"] == "dreambooth" for settings in runs.values()
        )
        plan.memory["sample"] = sampling_memory(
            tables, config["base_model"], sample["size"], sample["batch_size"], keep_base=blends
        )
        plan.memory["score"] = scoring_memory(
            config["prompts"]["interrogator"]["clip_model"],
            config["score"]["style_model"],
            config["score"]["structure_model"],
        )
        forward = measure_activations(config["base_model"], sample["size"], 1, False, False)
        plan.flops["sample"] = forward.forward_flops * 2 * sample["steps"] * counts["images"]
    return plan


def free_bytes(folder: str | Path) -> int:
    """Free space where `folder` is (or would be); STYLESWEEP_FREE_BYTES stands in for it."""
    if "STYLESWEEP_FREE_BYTES" in os.environ:
        return int(os.environ["STYLESWEEP_FREE_BYTES"])
    path = Path(folder).resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def written_bytes(path: str | Path) -> int:
    """The bytes of a file, or of every file under a folder (0 if it does not exist)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


SHRINK = (
    "train.save_precision: fp16, train.keep_resume: none, fewer runs or checkpoints "
    "(train.sweep, train.checkpoint_every), export.precision: fp16"
)


def preflight(plan: Plan, results: str | Path = "results") -> str:
    """The plan's summary line; raises OSError when the free space under `results` is
    smaller than what the plan still has to write."""
    remaining = max(0, plan.disk_bytes - written_bytes(results)) + plan.transient
    free = free_bytes(results)
    line = f"{plan.summary()} ({size(remaining)} still to write, {size(free)} free)"
    if remaining > free:
        raise OSError(
            f"stylesweep: the plan still has {size(remaining)} to write under {results}/ but "
            f"only {size(free)} is free there; free space, or shrink the sweep: {SHRINK} "
            "(`python -m stylesweep.plan` shows what each stage writes)"
        )
    return line


__all__ = ["GIB", "Plan", "gpu_hours", "make_plan", "preflight", "size"]
