"""The training sweep: runs, their names, checkpoint steps and the settings of each segment."""

from __future__ import annotations

import itertools
from typing import Any

# Short names of swept settings in run names, in the spirit of Snakemake's Paramspace.
ALIASES = {
    "text_encoder_fraction": "te",
    "text_encoder_steps": "testeps",
    "max_steps": "steps",
    "learning_rate": "lr",
    "checkpoint_every": "every",
    "batch_size": "bs",
}
SWEEPABLE = (
    "text_encoder_fraction",
    "text_encoder_steps",
    "max_steps",
    "learning_rate",
    "checkpoint_every",
    "batch_size",
    "seed",
)


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_runs(train: dict) -> dict[str, dict]:
    """Every combination of the swept values, keyed by a readable run name like `te~0.05`."""
    sweep = train.get("sweep") or {}
    base = {k: v for k, v in train.items() if k != "sweep"}
    if not sweep:
        return {"default": base}
    keys = list(sweep)
    runs = {}
    for values in itertools.product(*(sweep[k] for k in keys)):
        name = "_".join(
            f"{ALIASES.get(k, k)}~{_label(v)}" for k, v in zip(keys, values, strict=True)
        )
        runs[name] = {**base, **dict(zip(keys, values, strict=True))}
    return runs


def checkpoint_steps(settings: dict) -> list[int]:
    """Every `checkpoint_every` steps, and the last step."""
    every, last = settings["checkpoint_every"], settings["max_steps"]
    steps = list(range(every, last + 1, every))
    if not steps or steps[-1] != last:
        steps.append(last)
    return steps


def text_encoder_steps(settings: dict) -> int:
    """Absolute steps if given, else the fraction of max_steps (the notebook's "strength")."""
    if settings.get("text_encoder_steps") is not None:
        return int(settings["text_encoder_steps"])
    return round(settings["text_encoder_fraction"] * settings["max_steps"])


def segment_settings(settings: dict, start: int, end: int) -> dict:
    """What steps start+1..end depend on, and nothing more.

    The text-encoder stop step is clipped to the segment, so moving it only reruns the
    segments it falls in or before. Snakemake compares these params to decide reruns.
    """
    return {
        "key": settings["key"],
        "instance_prompt": settings["instance_prompt"],
        "max_steps": settings["max_steps"],
        "text_encoder_steps": min(max(text_encoder_steps(settings), start), end),
        "learning_rate": float(settings["learning_rate"]),
        "batch_size": settings["batch_size"],
        "seed": settings["seed"],
        "start_step": start,
        "end_step": end,
    }


def model_names(runs: dict[str, dict]) -> list[str]:
    """`base` (the untrained control), then every run at every checkpoint step."""
    names = ["base"]
    for run, settings in runs.items():
        names += [f"{run}/step-{step}" for step in checkpoint_steps(settings)]
    return names
