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
    "noise_offset": "offset",
    "num_vectors": "vectors",
    "lora_rank": "rank",
    "prior_loss_weight": "prior",
}
VALUE_ALIASES = {"dreambooth": "db", "textual_inversion": "ti"}
LORA_DEFAULTS = {"lora_rank": 8, "lora_alpha": 8.0, "lora_dropout": 0.0, "lora_text_encoder": False}


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return VALUE_ALIASES.get(str(value), str(value))


def run_name(overrides: dict) -> str:
    return "_".join(f"{ALIASES.get(k, k)}~{_label(v)}" for k, v in overrides.items())


def expand_runs(train: dict) -> dict[str, dict]:
    """Every combination of the swept values, then each of `extra_runs`, keyed by a readable
    run name like `te~0.05` or `method~textual_inversion`."""
    sweep = train.get("sweep") or {}
    extra = train.get("extra_runs") or []
    base = {k: v for k, v in train.items() if k not in ("sweep", "extra_runs")}
    runs = {}
    if sweep:
        keys = list(sweep)
        for values in itertools.product(*(sweep[k] for k in keys)):
            overrides = dict(zip(keys, values, strict=True))
            runs[run_name(overrides)] = {**base, **overrides}
    elif not extra:
        runs["default"] = base
    for overrides in extra:
        runs[run_name(overrides)] = {**base, **overrides}
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


def _clip(value: int, start: int, end: int) -> int:
    return min(max(value, start), end)


def segment_settings(settings: dict, start: int, end: int) -> dict:
    """What steps start+1..end depend on, and nothing more.

    Snakemake compares these params to decide reruns, so each is reduced to what this
    segment can see: a text-encoder stop step (or a warm-up end) is clipped to the segment,
    so moving it reruns only the segments it falls in or before; `max_steps` enters only as
    the horizon of a decaying learning-rate schedule (unless `lr_horizon` fixes it).
    """
    method = settings.get("method", "dreambooth")
    schedule = settings.get("lr_schedule", "constant")
    warmup = settings.get("lr_warmup_steps", 0)
    segment = {
        "method": method,
        "key": settings["key"],
        "instance_prompt": settings["instance_prompt"],
        "learning_rate": float(settings["learning_rate"]),
        "batch_size": settings["batch_size"],
        "seed": settings["seed"],
        "lr_schedule": schedule,
        "lr_warmup_steps": _clip(warmup, start, end) if schedule == "constant" else warmup,
        "lr_horizon": (
            None if schedule == "constant" else settings.get("lr_horizon") or settings["max_steps"]
        ),
        "noise_offset": float(settings.get("noise_offset", 0.0)),
        "snr_gamma": settings.get("snr_gamma"),
        "random_flip": settings.get("random_flip", False),
        "captions": settings.get("captions", "instance"),
        "gradient_accumulation_steps": settings.get("gradient_accumulation_steps", 1),
        "gradient_checkpointing": settings.get("gradient_checkpointing", False),
        "mixed_precision": settings.get("mixed_precision", "no"),
        "optimizer": settings.get("optimizer", "adamw"),
        "prior_loss_weight": float(prior_loss_weight(settings)),
        "start_step": start,
        "end_step": end,
    }
    if method == "textual_inversion":
        segment["num_vectors"] = settings.get("num_vectors", 1)
        segment["init_word"] = settings.get("init_word", "art")
    elif method == "lora":
        for name, default in LORA_DEFAULTS.items():
            segment[name] = settings.get(name, default)
    else:
        segment["text_encoder_steps"] = _clip(text_encoder_steps(settings), start, end)
    if segment["prior_loss_weight"]:
        segment["class_prompt"] = settings["class_prompt"]
    return segment


def prior_loss_weight(settings: dict) -> float:
    """The class images' loss weight; textual inversion never uses them."""
    if settings.get("method", "dreambooth") == "textual_inversion":
        return 0.0
    return settings.get("prior_loss_weight", 0.0)


def model_names(runs: dict[str, dict]) -> list[str]:
    """`base` (the untrained control), then every run at every checkpoint step."""
    names = ["base"]
    for run, settings in runs.items():
        names += [f"{run}/step-{step}" for step in checkpoint_steps(settings)]
    return names
