"""Render every prompt variant x seed x CFG scale of one model, reusing what is already rendered.

Images are stored under a name that carries a hash of their full recipe (model weights,
prompt, negative prompt, seed, CFG scale, sampler settings), so adding a seed renders only
that seed's images, and an image whose recipe did not change is never rendered twice.
Each image's noise comes from its own CPU generator seeded with its seed, so an image is
the same whichever batch it is rendered in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path

import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
)
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from tqdm import tqdm

from stylesweep import __version__
from stylesweep.base import load_components
from stylesweep.checkpoints import apply_checkpoint
from stylesweep.conditioning import encode_prompts
from stylesweep.files import atomic_path
from stylesweep.prompts import infotext

log = logging.getLogger(__name__)

# AUTOMATIC1111 sampler names and the diffusers scheduler settings that match them.
SAMPLERS = {
    "Euler": (EulerDiscreteScheduler, {}),
    "Euler a": (EulerAncestralDiscreteScheduler, {}),
    "DPM++ 2M": (DPMSolverMultistepScheduler, {}),
    "DPM++ 2M Karras": (DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
    "DDIM": (DDIMScheduler, {}),
}


class SamplingError(ValueError):
    """Sampling settings that cannot be used."""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides one image."""

    model: str
    model_hash: str
    variant: str
    prompt: str
    negative: str
    seed: int
    cfg_scale: float
    sampler: str
    steps: int
    width: int
    height: int
    clip_skip: int

    def key(self) -> str:
        fields = asdict(self)
        fields.pop("model")  # the weights' hash identifies the model; its name is a label
        fields.pop("variant")
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def file_name(self) -> str:
        return f"{self.variant}/seed{self.seed}_cfg{self.cfg_scale:g}_{self.key()}.png"


def make_scheduler(name: str, config):
    if name not in SAMPLERS:
        raise SamplingError(f"unknown sampler {name!r}: use one of {', '.join(SAMPLERS)}")
    cls, overrides = SAMPLERS[name]
    return cls.from_config(config, **overrides)


def load_pipeline(
    base_dir: str | Path, checkpoint_dir: str | Path | None, device: str
) -> StableDiffusionPipeline:
    """The base model's pipeline with a checkpoint's trained parts swapped in."""
    components = load_components(base_dir)
    if checkpoint_dir is not None:
        apply_checkpoint(components, checkpoint_dir)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipeline = StableDiffusionPipeline(
        vae=components.vae,
        text_encoder=components.text_encoder,
        tokenizer=components.tokenizer,
        unet=components.unet,
        scheduler=make_scheduler("Euler", components.noise_scheduler.config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device, dtype)


def render(
    pipeline: StableDiffusionPipeline,
    recipes: list[Recipe],
    out_dir: str | Path,
    batch_size: int = 8,
) -> int:
    """Render the recipes whose image is missing in out_dir; return how many were rendered."""
    out_dir = Path(out_dir)
    pending = [r for r in recipes if not (out_dir / r.file_name()).is_file()]
    if not pending:
        return 0

    def batch_key(r: Recipe):
        return (
            r.prompt,
            r.negative,
            r.cfg_scale,
            r.sampler,
            r.steps,
            r.width,
            r.height,
            r.clip_skip,
        )

    embeddings: dict[tuple[str, str, int], tuple[torch.Tensor, torch.Tensor]] = {}
    progress = tqdm(total=len(pending), desc="rendering", unit="img")
    for key, group in groupby(sorted(pending, key=batch_key), key=batch_key):
        group = list(group)
        prompt, negative, cfg_scale, sampler, steps, width, height, clip_skip = key
        if (prompt, negative, clip_skip) not in embeddings:
            embeddings[(prompt, negative, clip_skip)] = encode_prompts(
                prompt, negative, pipeline.tokenizer, pipeline.text_encoder, clip_skip
            )
        cond, uncond = embeddings[(prompt, negative, clip_skip)]
        pipeline.scheduler = make_scheduler(sampler, pipeline.scheduler.config)
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            images = pipeline(
                prompt_embeds=cond.expand(len(batch), -1, -1),
                negative_prompt_embeds=uncond.expand(len(batch), -1, -1),
                guidance_scale=cfg_scale,
                num_inference_steps=steps,
                width=width,
                height=height,
                generator=[torch.Generator("cpu").manual_seed(r.seed) for r in batch],
            ).images
            for recipe, image in zip(batch, images, strict=True):
                save_png(image, out_dir / recipe.file_name(), recipe)
            progress.update(len(batch))
    progress.close()
    return len(pending)


def save_png(image: Image.Image, path: Path, recipe: Recipe) -> None:
    """Save with the AUTOMATIC1111 `parameters` text chunk, atomically."""
    info = PngInfo()
    info.add_text(
        "parameters",
        infotext(
            recipe.prompt,
            recipe.negative,
            steps=recipe.steps,
            sampler=recipe.sampler,
            cfg_scale=recipe.cfg_scale,
            seed=recipe.seed,
            width=recipe.width,
            height=recipe.height,
            model_hash=recipe.model_hash,
            model_name=recipe.model,
            extra={"Clip skip": str(recipe.clip_skip), "Version": f"stylesweep {__version__}"},
        ),
    )
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)


def sample_model(
    *,
    model: str,
    base_dir: str | Path,
    checkpoint_dir: str | Path | None,
    variants: list[dict],
    seeds: list[int],
    cfg_scales: list[float],
    sampler: str,
    steps: int,
    size: int,
    clip_skip: int,
    batch_size: int,
    manifest_path: str | Path,
    device: str = "cpu",
) -> dict:
    """Render (or reuse) every variant x seed x CFG image of one model; write its manifest."""
    from stylesweep.base import model_hash
    from stylesweep.files import write_json

    if sampler not in SAMPLERS:
        raise SamplingError(f"unknown sampler {sampler!r}: use one of {', '.join(SAMPLERS)}")
    out_dir = Path(manifest_path).parent
    weights_hash = model_hash(checkpoint_dir if checkpoint_dir is not None else base_dir)
    if checkpoint_dir is not None:  # a checkpoint is only its trained parts on top of its base
        weights_hash = f"{weights_hash}+{model_hash(base_dir)}"
        weights_hash = hashlib.sha256(weights_hash.encode()).hexdigest()
    recipes = [
        Recipe(
            model=model,
            model_hash=weights_hash,
            variant=variant["name"],
            prompt=variant["prompt"],
            negative=variant["negative"],
            seed=seed,
            cfg_scale=float(cfg),
            sampler=sampler,
            steps=steps,
            width=size,
            height=size,
            clip_skip=clip_skip,
        )
        for variant in variants
        for seed in seeds
        for cfg in cfg_scales
    ]
    missing = [r for r in recipes if not (out_dir / r.file_name()).is_file()]
    rendered = 0
    if missing:
        pipeline = load_pipeline(base_dir, checkpoint_dir, device)
        rendered = render(pipeline, recipes, out_dir, batch_size)
    log.info("%s: %d images rendered, %d reused", model, rendered, len(recipes) - rendered)
    manifest = {
        "model": model,
        "model_hash": weights_hash,
        "rendered": rendered,
        "reused": len(recipes) - rendered,
        "images": [
            {"variant": r.variant, "seed": r.seed, "cfg_scale": r.cfg_scale, "file": r.file_name()}
            for r in recipes
        ],
    }
    write_json(manifest_path, manifest)
    return manifest
