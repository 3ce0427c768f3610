"""Copies and collapse, from pixels and embeddings: numpy only.

- Copies: a render's nearest training still and their likeness: the correlation of the two
  as tiny images (COPY_SIZE px, colour), the near-duplicate test of "80 Million Tiny Images"
  (Torralba et al. 2008). Small enough that a copy through the autoencoder, which blurs fine
  detail, still counts; in pixels, as Carlini et al. (2023, "Extracting Training Data from
  Diffusion Models") judged extracted images. The style and content embeddings are no use
  here: trained to see one style and one subject in all the stills, they find two different
  stills as alike as a still and its copy.
- Diversity: per model and recipe, the mean pairwise structure distance (1 - cosine) between
  the renders of different seeds. The content head groups pictures by what they show (any two
  portraits read the same to it), so the instance-level structure embedding (DINOv2 on real
  models) measures whether the seeds still draw different pictures.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

COPY_SIZE = 16  # px: renders and stills are compared as tiny colour images


def tiny_image(image: Image.Image) -> np.ndarray:
    """The picture at COPY_SIZE px (box filter), flattened, zero-mean and unit-length."""
    image = image if image.mode == "RGB" else image.convert("RGB")
    pixels = np.asarray(image.resize((COPY_SIZE, COPY_SIZE), Image.BOX), float)
    flat = pixels.ravel() - pixels.mean()
    return flat / max(float(np.linalg.norm(flat)), 1e-9)


def nearest_still(render: np.ndarray, stills: np.ndarray) -> tuple[int, float]:
    """The index of the still (rows of tiny images) most like `render`, and their
    correlation (1: the same picture, up to brightness and contrast)."""
    likeness = stills @ render
    index = int(np.argmax(likeness))
    return index, float(likeness[index])


def mean_pairwise_distance(embeddings: np.ndarray) -> float | None:
    """Mean of 1 - cosine over all pairs of unit-length rows; None for fewer than two."""
    if len(embeddings) < 2:
        return None
    pairs = np.triu_indices(len(embeddings), k=1)
    return float(np.mean(1 - (embeddings @ embeddings.T)[pairs]))


def diversity(rows: list[dict], structure: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Per model: the seeds' mean pairwise structure distance of each recipe (variant, CFG
    scale), averaged per subject and then over subjects (each weighs the same), with its
    spread over recipes. `structure[i]` is the embedding of `rows[i]`."""
    recipes: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        recipe = (row["model"], row.get("subject"), row["variant"], row["cfg_scale"])
        recipes.setdefault(recipe, []).append(i)
    per_model: dict[str, dict] = {}
    for (model, subject, *_), members in recipes.items():
        value = mean_pairwise_distance(structure[members])
        if value is not None:
            per_model.setdefault(model, {}).setdefault(subject, []).append(value)
    out: dict[str, dict[str, float | None]] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        subjects = per_model.get(model, {})
        values = [value for values in subjects.values() for value in values]
        out[model] = {
            "mean": float(np.mean([np.mean(v) for v in subjects.values()])) if values else None,
            "std": float(np.std(values)) if values else None,
        }
    return out
