"""The CLIP model that interrogation and scoring share: a built-in one (the toy world's,
trained; the tiny, random one), or an open_clip model from the local cache."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from stylesweep.sources import BUILTIN_TINY, BUILTIN_TOY

TINY_CLIP = "stylesweep-tiny-clip"
# CLIP's architecture at a tiny width. Its short text context keeps the one-time label cache
# (about 100k phrases) to seconds on one core; it also keeps the demo's prompts short.
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1},
}


def tiny_clip(seed: int = 0):
    """A random open_clip model of CLIP's architecture (1.6 M parameters), and its preprocessing."""
    import open_clip

    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / f"{TINY_CLIP}.json"
        config_file.write_text(json.dumps(TINY_CLIP_CONFIG))
        open_clip.add_model_config(config_file)
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_CLIP, pretrained=None)
    return model.eval(), preprocess


def load_clip_folder(folder: str | Path):
    """The CLIP saved in `folder` (open_clip's local-dir layout), with open_clip's own loader:
    (model, preprocess, tokenizer)."""
    import open_clip

    name = f"local-dir:{Path(folder)}"
    model, _, preprocess = open_clip.create_model_and_transforms(name)
    return model.eval(), preprocess, open_clip.get_tokenizer(name)


def toy_clip():
    """The toy world's CLIP, from the shipped weights (checked against their manifest)."""
    from stylesweep.toy.shipped import CLIP_FOLDER, checked

    return load_clip_folder(checked() / CLIP_FOLDER)


def load_clip(name: str, device: str):
    """The CLIP model of interrogation, with its preprocessing and tokenizer, offline."""
    import open_clip

    if name == BUILTIN_TOY:
        model, preprocess, tokenizer = toy_clip()
    elif name == BUILTIN_TINY:
        model, preprocess = tiny_clip(seed=0)
        tokenizer = open_clip.get_tokenizer(TINY_CLIP)
    else:
        architecture, pretrained = name.split("/", 1)
        model, _, preprocess = open_clip.create_model_and_transforms(
            architecture, pretrained=pretrained
        )
        tokenizer = open_clip.get_tokenizer(architecture)
    return model.to(device).eval(), preprocess, tokenizer


def transform_steps(preprocess) -> list[tuple]:
    """A torchvision Compose as comparable values: each step's class and public settings,
    a list and a tuple of the same numbers alike (open_clip writes the mean either way)."""

    def plain(value):
        return tuple(map(plain, value)) if isinstance(value, list | tuple) else value

    return [
        (type(step).__name__, sorted((k, plain(v)) for k, v in vars(step).items()
                                     if not k.startswith("_") and k != "training"))
        for step in getattr(preprocess, "transforms", [preprocess])
    ]  # fmt: skip


# open_clip's image transform for evaluation (image_transform_v2, resize_mode "shortest").
CLIP_STEPS = ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]


def preprocess_batch(preprocess, images: list) -> torch.Tensor:
    """PIL images through an open_clip `preprocess`, stacked into one batch.

    RGB pictures already at the size it resizes and crops to (the demo's renders) need only
    its last two steps, to a tensor and normalised; they are done here on the whole batch at
    once, the same arithmetic in the same order as torchvision's per-image steps (the same
    floats: tests/test_score.py). At 64 px, torchvision's per-image calls cost more than the
    scorer's forward pass. Any other picture takes `preprocess` itself."""
    steps = getattr(preprocess, "transforms", [])
    if [type(step).__name__ for step in steps] == CLIP_STEPS and images:
        resize, crop, _, _, normalize = steps
        side = resize.size if isinstance(resize.size, int) else None
        if (
            side is not None
            and tuple(crop.size) == (side, side)
            and all(image.size == (side, side) and image.mode == "RGB" for image in images)
        ):
            pixels = torch.from_numpy(np.stack([np.asarray(image) for image in images]))
            batch = pixels.permute(0, 3, 1, 2).contiguous().float().div(255)
            mean = torch.as_tensor(normalize.mean, dtype=batch.dtype).view(1, -1, 1, 1)
            std = torch.as_tensor(normalize.std, dtype=batch.dtype).view(1, -1, 1, 1)
            return batch.sub_(mean).div_(std)
    return torch.stack([preprocess(image) for image in images])
