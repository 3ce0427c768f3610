"""How well `builtin:toy` paints its world: the toy CLIP picks each picture's caption.

For a group of held-out pictures of the world, the CLIP ranks the group's captions against
each picture; a picture counts when its own caption comes first. On the world's drawings this
measures the CLIP (the ceiling); on the toy model's renders of the same captions it measures
the painter. Renders go through stylesweep's own sampler (GridRenderer), as the grids do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from stylesweep.clip_model import toy_clip
from stylesweep.sample import GridRenderer, Recipe
from stylesweep.toy.configs import IMAGE_SIZE
from stylesweep.toy.world import draw, held_out_indices

BATCH = 32  # images per UNet call


@dataclass
class Ranking:
    drawings: float  # share of drawings whose caption the CLIP ranks first (the ceiling)
    renders: float  # the same, for the toy model's renders of the captions
    pictures: int
    group: int


@torch.no_grad()
def top1(images: list[Image.Image], captions: list[str], clip) -> float:
    """Share of images whose own caption (same index) is the CLIP's first among `captions`."""
    model, preprocess, tokenizer = clip
    pixels = torch.stack([preprocess(image) for image in images])
    image_features = model.encode_image(pixels, normalize=True)
    text_features = model.encode_text(tokenizer(captions), normalize=True)
    picks = (image_features @ text_features.T).argmax(dim=1)
    return float((picks == torch.arange(len(images))).float().mean())


def render_captions(
    model_dir: str | Path, captions: list[str], seeds: list[int], cfg_scale: float, steps: int
) -> list[Image.Image]:
    """One image per caption, each with its seed, Euler a (the demo's sampler)."""
    renderer = GridRenderer(model_dir)
    recipes = [
        Recipe(
            model="toy",
            model_hash="toy",
            variant=str(i),
            prompt=caption,
            negative="",
            seed=seed,
            cfg_scale=cfg_scale,
            sampler="Euler a",
            steps=steps,
            width=IMAGE_SIZE,
            height=IMAGE_SIZE,
            clip_skip=1,
        )
        for i, (caption, seed) in enumerate(zip(captions, seeds, strict=True))
    ]
    return [
        image
        for start in range(0, len(recipes), BATCH)
        for image in renderer.denoise(recipes[start : start + BATCH])
    ]


def caption_ranking(
    model_dir: str | Path, pictures: int = 100, group: int = 20, cfg_scale: float = 7.0,
    steps: int = 20, first_seed: int = 0,
) -> Ranking:  # fmt: skip
    """Top-1 caption ranking in groups of `group` held-out pictures, on drawings and renders."""
    clip = toy_clip()
    drawn = [draw(index) for index in held_out_indices(pictures)]
    captions = [picture.caption for picture in drawn]
    seeds = [first_seed + i for i in range(pictures)]
    renders = render_captions(model_dir, captions, seeds, cfg_scale, steps)
    on_drawings, on_renders = [], []
    for start in range(0, pictures - group + 1, group):
        part = slice(start, start + group)
        on_drawings.append(top1([p.image for p in drawn[part]], captions[part], clip))
        on_renders.append(top1(renders[part], captions[part], clip))
    return Ranking(
        drawings=sum(on_drawings) / len(on_drawings),
        renders=sum(on_renders) / len(on_renders),
        pictures=len(on_drawings) * group,
        group=group,
    )
