"""The bytes each stage writes, from the config and the base model's tensor tables.

Weight files are safetensors, whose size follows from names, shapes and dtypes: those are
counted exactly (stylesweep.plan.tensors.safetensors_bytes), as are the resume states.
Pictures are PNG files whose size depends on what they show: they are estimated from their
pixels at PNG_BYTES_PER_PIXEL. Small text files (manifests, logs of losses) are estimated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stylesweep.plan.tensors import PRECISION_DTYPES, numel, parameters, safetensors_bytes
from stylesweep.sweep import (
    checkpoint_steps,
    is_control,
    model_labels,
    rendered_models,
    text_encoder_steps,
)

# PNG of a generated picture: SD 1.5's renders take 1.3 to 1.8 bytes a pixel, the small
# models' noisier ones 2 to 3 (bench/rehearsal.py measures it).
PNG_BYTES_PER_PIXEL = 2.0
STILL_BYTES_PER_PIXEL = 4.0  # the demo's video-synth stills: fine noise and scan lines
# An animation frame: its PNG, and its share of the GIF preview and the MP4.
FRAME_BYTES_PER_PIXEL = 4.0
WEBP_BYTES_PER_PIXEL = 0.25  # the report's thumbnails (quality 80)
MANIFEST_BYTES = 3_000  # a checkpoint's manifest.json: settings, versions, hashes
LOSS_ROW_BYTES = 24  # "1234,0.123456789012345\n"
SMALL_FILE_BYTES = 2_000  # prompts, scores, settings: a few kB each
TOKENIZER_BYTES = 5_180_000  # CLIP's vocab.json, merges.txt, tokenizer.json, scheduler
REPORT_BYTES = 600_000  # index.html with its scripts, charts and the grid's data


@dataclass(frozen=True)
class Item:
    """One thing the workflow writes: its stage, a path under results/, and its bytes."""

    stage: str
    path: str
    bytes: int
    exact: bool


def png(size: int, count: int = 1) -> int:
    return int(size * size * PNG_BYTES_PER_PIXEL) * count


def weight_entries(tables: dict, part: str, dtype: str, prefix: str = "") -> list:
    return [(prefix + name, dtype, shape) for name, shape in tables["tensors"][part]]


def checkpoint_bytes(tables: dict, settings: dict) -> tuple[int, int]:
    """(weight files' exact bytes, the rest) of one checkpoint folder of a run."""
    dtype = PRECISION_DTYPES[settings["save_precision"]]
    method = settings["method"]
    if method == "dreambooth":
        weights = sum(
            safetensors_bytes(weight_entries(tables, part, dtype), {"format": "pt"})
            for part in ("unet", "text_encoder")
        )
        configs = tables["config_bytes"]["unet"] + tables["config_bytes"]["text_encoder"]
        return weights, configs + MANIFEST_BYTES
    if method == "textual_inversion":
        width = tables["text_width"]
        entries = [(settings["key"], dtype, [settings["num_vectors"], width])]
        return safetensors_bytes(entries, None), MANIFEST_BYTES
    entries = []
    rank = settings["lora_rank"]
    parts = ["unet"] + (["text_encoder"] if settings["lora_text_encoder"] else [])
    for part in parts:
        for name, fan_in, fan_out in tables["lora"][part]:
            entries += [
                (f"{part}.{name}.lora_A.weight", dtype, [rank, fan_in]),
                (f"{part}.{name}.lora_B.weight", dtype, [fan_out, rank]),
            ]
    # diffusers adds the adapters' config as metadata: about 600 bytes a part
    return safetensors_bytes(entries, None) + 600 * len(parts), MANIFEST_BYTES


def state_entries(tables: dict, settings: dict, after_encoder: bool) -> list:
    """The tensors of a resume state (stylesweep.resume) written once the text encoder is
    frozen (`after_encoder`) or before."""
    method = settings["method"]
    if method == "dreambooth":
        weights = weight_entries(tables, "unet", "F32", "weights.unet.")
        weights += weight_entries(tables, "text_encoder", "F32", "weights.text_encoder.")
        trained = [shape for _, shape in tables["tensors"]["unet"]]
        if not after_encoder:
            trained += [shape for _, shape in tables["tensors"]["text_encoder"]]
    elif method == "textual_inversion":
        shape = [settings["num_vectors"], tables["text_width"]]
        weights, trained = [("weights.embeddings", "F32", shape)], [shape]
    else:
        rank, weights, trained = settings["lora_rank"], [], []
        parts = ["unet"] + (["text_encoder"] if settings["lora_text_encoder"] else [])
        for part in parts:
            for name, fan_in, fan_out in tables["lora"][part]:
                for kind, shape in (("A", [rank, fan_in]), ("B", [fan_out, rank])):
                    weights.append(
                        (f"weights.{part}.{name}.lora_{kind}.stylesweep.weight", "F32", shape)
                    )
                    trained.append(shape)
    optimizer = []
    for index, shape in enumerate(trained):
        if settings["optimizer"] == "adamw8bit" and numel(shape) >= 4096:
            blocks = -(-numel(shape) // 256)
            quant = f"optimizer.state.{index}.__bnb_optimizer_quant_state__."
            for moment in ("1", "2"):
                optimizer += [
                    (quant + "state" + moment, "U8", shape),
                    (quant + "absmax" + moment, "F32", [blocks]),
                    (quant + "qmap" + moment, "F32", [256]),
                ]
            continue
        prefix = f"optimizer.state.{index}."
        optimizer += [
            (prefix + "exp_avg", "F32", shape),
            (prefix + "exp_avg_sq", "F32", shape),
            (prefix + "step", "F32", []),
        ]
    return weights + optimizer


def state_bytes(tables: dict, settings: dict, after_encoder: bool) -> int:
    groups = 1 if after_encoder or settings["method"] != "dreambooth" else 2
    count = len(state_entries(tables, settings, after_encoder))
    # The metadata's length, not its text: the optimizer's groups as JSON take about 260
    # bytes a group and a few digits per parameter index (about a third of the entries).
    metadata = {
        "param_groups": "x" * (260 * groups + 8 * count // 3),
        "optimizer_rest": "{}",
        "scaler": "null",
    }
    return safetensors_bytes(state_entries(tables, settings, after_encoder), metadata)


def train_items(tables: dict, runs: dict, keep_resume: str) -> list[Item]:
    items = []
    for run, settings in runs.items():
        steps = checkpoint_steps(settings)
        weights, rest = checkpoint_bytes(tables, settings)
        stop = text_encoder_steps(settings) if settings["method"] == "dreambooth" else 0
        for step in steps:
            folder = f"results/train/{run}/step-{step}"
            items.append(Item("train", folder, weights + rest, False))
        kept = {"all": steps, "last": steps[-1:], "none": []}[keep_resume]
        for step in kept:
            path = f"results/train/{run}/resume/step-{step}.safetensors"
            items.append(Item("train", path, state_bytes(tables, settings, step >= stop), True))
        rows = steps[-1] * LOSS_ROW_BYTES + 10 * len(steps)
        items.append(Item("train", f"results/train/{run}/loss", rows, False))
    return items


def transient_bytes(tables: dict, runs: dict, keep_resume: str) -> int:
    """The most that resume states add, while training, to what stays on disk at the end:
    a segment writes its state before removing the one it started from, and with
    `keep_resume` "none" every unfinished run holds one."""
    states = [state_bytes(tables, settings, True) for settings in runs.values()]
    if not states or keep_resume == "all":
        return 0
    return max(states) + (sum(states) if keep_resume == "none" else 0)


def latents_bytes(stills: int, resolution: int, tables: dict) -> int:
    side = resolution // tables["vae_scale"]
    entries = [
        (name, "F32", [stills, 4, side, side]) for name in ("mean", "std", "mean_flip", "std_flip")
    ]
    return safetensors_bytes(entries, None) + 200 * stills  # the image list as metadata


def base_items(config: dict, tables: dict) -> list[Item]:
    """A built-in or single-file base model is written once, in fp32, under results/base/."""
    base = config["base_model"]
    if not (base.startswith("builtin:") or base.endswith((".safetensors", ".ckpt"))):
        return []  # a folder or a hub id is read where it is
    weights = sum(
        safetensors_bytes(weight_entries(tables, part, "F32"), {"format": "pt"})
        for part in ("unet", "vae", "text_encoder")
    )
    rest = sum(tables["config_bytes"].values()) + TOKENIZER_BYTES
    return [Item("base", "results/base/model", weights + rest, False)]


def export_items(config: dict, tables: dict, runs: dict) -> list[Item]:
    chosen = []
    for item in config["export"]["checkpoints"]:
        if item == "last":
            chosen += [f"{run}/step-{checkpoint_steps(s)[-1]}" for run, s in runs.items()]
        else:
            chosen.append(item)
    dtype = PRECISION_DTYPES[config["export"]["precision"]]
    items = []
    for model in dict.fromkeys(chosen):
        settings = runs[model.split("/")[0]]
        if settings["method"] == "dreambooth":  # one file: UNet, VAE and text encoder
            count = sum(parameters(tables, part) for part in ("unet", "vae", "text_encoder"))
            size = count * (2 if dtype == "F16" else 4)
        else:
            size = checkpoint_bytes(tables, settings)[0]
        items.append(Item("export", f"results/export/{model}", size + SMALL_FILE_BYTES, False))
    return items


def disk_items(config: dict, tables: dict, runs: dict, counts: dict) -> list[Item]:
    """Everything the workflow writes under results/, one Item per file or folder."""
    resolution = config["dataset"]["resolution"]
    stills = counts["stills"]
    sample_size = config["sample"]["size"]
    thumb = min(config["report"]["thumbnail_size"], sample_size)
    items = base_items(config, tables)
    still = int(resolution * resolution * STILL_BYTES_PER_PIXEL) * stills
    if config["dataset"]["stills"] == "builtin:demo":
        items.append(Item("dataset", "results/demo/stills", still, False))
    items.append(Item("dataset", "results/dataset", still, False))
    items.append(
        Item(
            "train",
            "results/train/latents.safetensors",
            latents_bytes(stills, resolution, tables),
            False,
        )
    )
    if any(s["prior_loss_weight"] and s["method"] != "textual_inversion" for s in runs.values()):
        number = config["train"]["num_class_images"]
        items.append(
            Item(
                "train",
                "results/train/class_images",
                png(resolution, number) + latents_bytes(number, resolution, tables),
                False,
            )
        )
    items += train_items(tables, runs, config["train"]["keep_resume"])
    items.append(Item("prompts", "results/prompts", SMALL_FILE_BYTES * 3, False))
    models = rendered_models(runs, config["prompts"]["words_baseline"])
    labels = model_labels(models, config["sample"]["strengths"])
    per_model = counts["images"] // len(labels)
    for model in labels:
        group = model if is_control(model) else model.split("/")[0]
        thumbnails = (
            int(thumb * thumb * WEBP_BYTES_PER_PIXEL) * per_model if thumb < sample_size else 0
        )
        items.append(
            Item(
                "sample",
                f"results/samples/{group}/{model}",
                png(sample_size, per_model) + thumbnails,
                False,
            )
        )
    items.append(Item("report", "results/report", REPORT_BYTES, False))
    items += export_items(config, tables, runs)
    for name, animation in config["animate"]["animations"].items():
        frames = animation_frames(animation, config["dataset"]["stills"])
        size = animation["size"]
        video = int(frames * size * size * FRAME_BYTES_PER_PIXEL)
        items.append(Item("animate", f"results/animate/{name}", video, False))
    return items


def animation_frames(animation: dict, stills: str) -> int:
    """The frames an animation renders: its max_frames, or its clip's length from the clip's
    container (24 when the clip is not there yet, as the demo's before its rule runs)."""
    from stylesweep.animate.plan import FRAMES_WITHOUT_CLIP, animation_length
    from stylesweep.animate.source import probe_length

    length = animation_length(animation)
    if length is not None:
        return length
    video = animation["video_init"]
    if video.startswith("stills:"):
        folder = "results/demo/stills" if stills == "builtin:demo" else stills
        video = f"{folder}/{video.removeprefix('stills:')}"
    if not Path(video).is_file():
        return FRAMES_WITHOUT_CLIP
    return (
        probe_length(video, animation["fps"], animation["extract_nth_frame"]) or FRAMES_WITHOUT_CLIP
    )


def summarise(items: list[Item]) -> dict[str, int]:
    """Bytes by stage, in the order the stages run."""
    totals: dict[str, int] = {}
    for item in items:
        totals[item.stage] = totals.get(item.stage, 0) + item.bytes
    return totals


def as_json(items: list[Item]) -> str:
    return json.dumps([item.__dict__ for item in items])
