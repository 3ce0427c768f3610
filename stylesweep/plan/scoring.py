"""The score job's GPU memory: the interrogation CLIP, the style scorer and the structure
model, each loaded in fp32 (stylesweep.score), and one batch going through the widest.

Parameters are counted exactly, from the models built on the meta device (no weights are
read) or from the shipped files' headers; the activation is an estimate: without autograd a
vision transformer holds little more than one layer's MLP input and output at once.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from stylesweep.plan.memory import Memory

FP32 = 4


def shipped_parameters(folder: Path) -> int:
    """Parameters in the .safetensors files of a shipped folder (read from their headers)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            names = handle.keys()  # noqa: SIM118 (a safetensors handle is not iterable)
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in names)
    return total


def vision_tower(parameters: int, image_size: int, patch_size: int, width: int) -> dict:
    return {"parameters": parameters, "tokens": (image_size // patch_size) ** 2 + 1, "width": width}


def clip_tower(name: str) -> dict:
    """The interrogation CLIP: its parameters, and its image tower's tokens and width."""
    from stylesweep.clip_model import TINY_CLIP_CONFIG, tiny_clip
    from stylesweep.sources import BUILTIN_TINY, BUILTIN_TOY

    if name in (BUILTIN_TOY, BUILTIN_TINY):
        from stylesweep.toy.configs import SHIPPED
        from stylesweep.toy.shipped import CLIP_FOLDER

        if name == BUILTIN_TOY:
            folder = SHIPPED / CLIP_FOLDER
            config = json.loads((folder / "open_clip_config.json").read_text())["model_cfg"]
            parameters = shipped_parameters(folder)
        else:  # random and tiny: built in a moment, then counted
            config = TINY_CLIP_CONFIG
            parameters = sum(p.numel() for p in tiny_clip()[0].parameters())
        vision = config["vision_cfg"]
        return vision_tower(parameters, vision["image_size"], vision["patch_size"], vision["width"])
    import open_clip
    import torch

    architecture = name.split("/", 1)[0]
    with torch.device("meta"):
        model = open_clip.create_model(architecture, pretrained=None, device="meta")
    vision = open_clip.get_model_config(architecture)["vision_cfg"]
    count = sum(p.numel() for p in model.parameters())
    return vision_tower(count, vision["image_size"], vision["patch_size"], vision["width"])


def style_tower(name: str) -> dict:
    """The style scorer: builtin:toy's shipped folder, or CSD-ViT-L's architecture."""
    from stylesweep.sources import BUILTIN_MODELS

    if name in BUILTIN_MODELS:
        from stylesweep.style_content import CONFIG
        from stylesweep.toy.configs import SHIPPED
        from stylesweep.toy.shipped import SCORER_FOLDER

        folder = SHIPPED / SCORER_FOLDER
        vision = json.loads((folder / CONFIG).read_text())["vision_cfg"]
        parameters = shipped_parameters(folder)
        return vision_tower(parameters, vision["image_size"], vision["patch_size"], vision["width"])
    import torch

    from stylesweep.style_content import CSD_VIT_L, StyleContentModel

    with torch.device("meta"):
        model = StyleContentModel(
            CSD_VIT_L["embed_dim"], CSD_VIT_L["vision_cfg"], CSD_VIT_L["quick_gelu"]
        )
    vision = CSD_VIT_L["vision_cfg"]
    count = sum(p.numel() for p in model.parameters())
    return vision_tower(count, vision["image_size"], vision["patch_size"], vision["width"])


def structure_tower(name: str | None) -> dict | None:
    """DINOv2 from its config in the local cache or folder (the base size's if absent: the
    workflow then stops before any job, asking for it), at its processor's 224 px."""
    if not name:
        return None
    import torch
    from transformers import AutoConfig, Dinov2Config, Dinov2Model

    try:
        config = AutoConfig.from_pretrained(name, local_files_only=True)
    except OSError:
        config = Dinov2Config()
    with torch.device("meta"):
        model = Dinov2Model(config)
    count = sum(p.numel() for p in model.parameters())
    return vision_tower(count, 224, config.patch_size, config.hidden_size)


def scoring_memory(clip_model: str, style_model: str, structure_model: str | None) -> Memory:
    """Peak GPU memory of a score job: the three models' fp32 weights, and a batch's widest
    activation (an MLP's input and output, 1 + 4 times the width per token)."""
    from stylesweep.score import SCORE_BATCH as batch

    towers = [clip_tower(clip_model), style_tower(style_model), structure_tower(structure_model)]
    towers = [tower for tower in towers if tower]
    weights = sum(tower["parameters"] for tower in towers) * FP32
    activations = max(batch * t["tokens"] * t["width"] * 5 * FP32 for t in towers)
    return Memory(weights=weights, gradients=0, optimizer=0, activations=activations)
