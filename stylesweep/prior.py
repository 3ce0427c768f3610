"""Prior preservation (DreamBooth's class images): pictures of a class prompt rendered by the
base model itself, trained on beside the stills so that the class keeps its old meaning while
the key learns the style (Ruiz et al. 2023; the diffusers DreamBooth example's
`--with_prior_preservation`)."""

from __future__ import annotations

from pathlib import Path

from stylesweep.dataset import encode_dataset
from stylesweep.files import write_json
from stylesweep.sample import GridRenderer, Recipe

LATENTS = "latents.safetensors"


def render_class_images(
    base_dir: str | Path,
    base_hash: str,
    out_dir: str | Path,
    *,
    prompt: str,
    count: int,
    size: int,
    sampler: str,
    steps: int,
    cfg_scale: float,
    batch_size: int = 8,
    device: str = "cpu",
) -> Path:
    """Render `count` images of `prompt` (seeds 0..count-1) and encode them like the dataset.

    Writes out_dir/images/, a dataset-style manifest.json (each image captioned with the
    prompt) and out_dir/latents.safetensors; returns the latents' path.
    """
    out_dir = Path(out_dir)
    recipes = [
        Recipe(model="base", model_hash=base_hash, variant="class", prompt=prompt,
               negative="", seed=seed, cfg_scale=cfg_scale, sampler=sampler, steps=steps,
               width=size, height=size, clip_skip=1)
        for seed in range(count)
    ]  # fmt: skip
    GridRenderer(base_dir, device).render(recipes, out_dir / "images", batch_size)
    images = [
        {"file": f"images/{r.file_name()}", "source": f"base model, seed {r.seed}",
         "caption": prompt, "filename_caption": prompt}
        for r in recipes
    ]  # fmt: skip
    write_json(
        out_dir / "manifest.json",
        {"resolution": size, "crop": "none", "prompt": prompt, "images": images, "skipped": []},
    )
    encode_dataset(base_dir, out_dir, out_dir / LATENTS)
    return out_dir / LATENTS
