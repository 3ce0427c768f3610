"""Evidence for "which model?": style and fidelity of every rendered image, and their spread.

- style_colour: how close the image's colours are to the training stills' (intersection of
  8x8x8 RGB histograms, 1 = the same distribution). Needs no model, so it means something
  even on the tiny demo model.
- style_clip: CLIP image-embedding cosine similarity to the centroid of the training stills.
- fidelity_base: structural similarity (SSIM, grey levels) to the same seed, variant and CFG
  scale rendered by the untrained base model: how much of the subject survives.
- fidelity_prompt: CLIP similarity of the image to the base prompt without the key.

CLIP is the interrogation model (builtin:toy on the demo, ViT-L-14/openai for SD 1.5).
Per model, each measure is averaged over variants and CFG scales per seed; its mean and
standard deviation over seeds are reported, so one lucky seed does not decide.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.metrics import structural_similarity
from tqdm import tqdm

from stylesweep.clip_model import load_clip
from stylesweep.files import read_json, write_json
from stylesweep.summary import summarise

log = logging.getLogger(__name__)

BINS = 8


def colour_histogram(pixels: np.ndarray) -> np.ndarray:
    """Normalised joint RGB histogram (8 levels per channel) of an HxWx3 uint8 array."""
    levels = (pixels.reshape(-1, 3).astype(np.int64) * BINS) // 256
    index = (levels[:, 0] * BINS + levels[:, 1]) * BINS + levels[:, 2]
    counts = np.bincount(index, minlength=BINS**3).astype(np.float64)
    return counts / counts.sum()


@torch.no_grad()
def image_features(model, preprocess, images: list[Image.Image], device: str) -> torch.Tensor:
    batch = torch.stack([preprocess(image) for image in images]).to(device)
    features = model.encode_image(batch).float()
    return features / features.norm(dim=-1, keepdim=True)


@torch.no_grad()
def text_features(model, tokenizer, texts: list[str], device: str) -> torch.Tensor:
    features = model.encode_text(tokenizer(texts).to(device)).float()
    return features / features.norm(dim=-1, keepdim=True)


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def score_group(
    *,
    samples_manifest: str | Path,
    base_manifest: str | Path,
    dataset_dir: str | Path,
    variants: list[dict],
    clip_model: str,
    out_path: str | Path,
    device: str = "cpu",
    batch_size: int = 32,
) -> dict:
    """Score every image of one sample job (a run, or the base model); write out_path."""
    dataset_dir = Path(dataset_dir)
    model, preprocess, tokenizer = load_clip(clip_model, device)
    stills = [
        load_rgb(dataset_dir / e["file"])
        for e in read_json(dataset_dir / "manifest.json")["images"]
    ]
    dataset_histogram = np.mean([colour_histogram(np.asarray(s)) for s in stills], axis=0)
    centroid = image_features(model, preprocess, stills, device).mean(dim=0)
    centroid = centroid / centroid.norm()
    base_prompts = {v["name"]: v["base_prompt"] for v in variants}
    names = list(base_prompts)
    prompt_features = dict(
        zip(
            names,
            text_features(model, tokenizer, [base_prompts[n] for n in names], device),
            strict=True,
        )
    )

    root, base_root = Path(samples_manifest).parent, Path(base_manifest).parent
    base_images = {
        (e["variant"], e["seed"], e["cfg_scale"]): base_root / e["file"]
        for e in read_json(base_manifest)["images"]
    }
    entries = read_json(samples_manifest)["images"]
    scored = []
    for start in tqdm(range(0, len(entries), batch_size), desc="scoring", unit="batch"):
        batch = entries[start : start + batch_size]
        images = [load_rgb(root / e["file"]) for e in batch]
        features = image_features(model, preprocess, images, device)
        for entry, image, feature in zip(batch, images, features, strict=True):
            pixels = np.asarray(image)
            row = {
                **entry,
                "style_colour": float(
                    np.minimum(colour_histogram(pixels), dataset_histogram).sum()
                ),
                "style_clip": float(feature @ centroid),
                "fidelity_prompt": float(feature @ prompt_features[entry["variant"]]),
                "fidelity_base": None,
            }
            base = base_images.get((entry["variant"], entry["seed"], entry["cfg_scale"]))
            if entry["model"] != "base" and base is not None:
                reference = np.asarray(load_rgb(base).convert("L"), dtype=np.float64)
                grey = np.asarray(image.convert("L"), dtype=np.float64)
                row["fidelity_base"] = float(structural_similarity(grey, reference, data_range=255))
            scored.append(row)
    result = {"clip_model": clip_model, "images": scored, "models": summarise(scored)}
    write_json(out_path, result)
    return result
