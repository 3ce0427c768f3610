"""Evidence for "which model?": style and fidelity of every rendered image, and their spread.

Style apart from content (stylesweep.style_content: CSD's model, the toy world's on the demo):
- style_csd: cosine similarity of the image's style embedding to the centroid of the
  training stills' style embeddings.
- content: content-embedding similarity to the same seed, variant and CFG scale rendered by
  the untrained base model: is the subject still there?
- fidelity_dino: structure similarity to the base model's image (DINOv2's class token, the
  DreamBooth paper's DINO metric; on builtin models the scorer's pooled feature).
- still_likeness and nearest_still: the training still the image is most like, and how much
  (stylesweep.evidence); per model, diversity: how different the seeds' pictures are.

The first measures, kept as columns:
- style_colour: how close the image's colours are to the training stills' (intersection of
  8x8x8 RGB histograms, 1 = the same distribution). Needs no model.
- style_clip: CLIP image-embedding cosine similarity to the centroid of the training stills.
- fidelity_base: structural similarity (SSIM, grey levels) to the base model's image.
- fidelity_prompt: CLIP similarity of the image to the base prompt without the key.

CLIP is the interrogation model (builtin:toy on the demo, ViT-L-14/openai for SD 1.5).
Per model, each measure is averaged over variants and CFG scales per seed; its mean and
standard deviation over seeds are reported, so one lucky seed does not decide.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import uniform_filter
from tqdm import tqdm

from stylesweep.clip_model import load_clip, preprocess_batch, transform_steps
from stylesweep.dataset import training_images
from stylesweep.evidence import diversity, nearest_still, tiny_image
from stylesweep.files import read_json, read_safetensors, write_json, write_safetensors
from stylesweep.style_content import embed
from stylesweep.style_content import load as load_scorer
from stylesweep.subjects import PORTRAIT
from stylesweep.summary import by_subject, summarise

log = logging.getLogger(__name__)

BINS = 8
SCORE_BATCH = 32  # pictures through the models at once


def colour_histograms(pictures: np.ndarray) -> np.ndarray:
    """Normalised joint RGB histograms (8 levels per channel) of N x H x W x 3 uint8
    pictures, with one bincount for the whole stack."""
    count = len(pictures)
    levels = (pictures.reshape(count, -1, 3).astype(np.int64) * BINS) // 256
    index = (levels[..., 0] * BINS + levels[..., 1]) * BINS + levels[..., 2]
    index += np.arange(count)[:, None] * BINS**3
    counts = np.bincount(index.ravel(), minlength=count * BINS**3).astype(np.float64)
    counts = counts.reshape(count, BINS**3)
    return counts / counts.sum(axis=1, keepdims=True)


def colour_histogram(pixels: np.ndarray) -> np.ndarray:
    """colour_histograms of one H x W x 3 uint8 picture."""
    return colour_histograms(pixels[None])[0]


@torch.no_grad()
def image_features(model, batch: torch.Tensor, device: str) -> torch.Tensor:
    features = model.encode_image(batch.to(device)).float()
    return features / features.norm(dim=-1, keepdim=True)


@torch.no_grad()
def text_features(model, tokenizer, texts: list[str], device: str) -> torch.Tensor:
    features = model.encode_text(tokenizer(texts).to(device)).float()
    return features / features.norm(dim=-1, keepdim=True)


def ssim_batch(images: np.ndarray, references: np.ndarray, data_range: float = 255) -> np.ndarray:
    """SSIM of each grey image (N x H x W) with its reference: skimage's
    `structural_similarity` with its defaults (7 px uniform window, sample covariance, the
    border cropped), the same formula over the whole stack at once. skimage's call costs
    ten Python-level filter passes per image, most of the scoring time at 64 px;
    tests/test_score.py holds this to skimage within 1e-9."""
    window, pad = 7, 3
    covariance = window**2 / (window**2 - 1)

    def mean(values: np.ndarray) -> np.ndarray:  # the window's mean, border cropped
        return uniform_filter(values, size=(1, window, window))[:, pad:-pad, pad:-pad]

    mx, my = mean(images), mean(references)
    vx = mean(images * images)
    vx -= mx * mx
    vx *= covariance
    vy = mean(references * references)
    vy -= my * my
    vy *= covariance
    vxy = mean(images * references)
    vxy -= mx * my
    vxy *= covariance
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return ssim.mean(axis=(1, 2))


def grey_levels(image: Image.Image) -> np.ndarray:
    """A picture's grey levels (Pillow's ITU-R 601 luma), as SSIM reads them."""
    return np.asarray(image.convert("L"))


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def recipe(entry: dict) -> tuple:
    """What an image shares with the base model's image it is compared with."""
    return entry["variant"], entry["seed"], entry["cfg_scale"]


class Embedder:
    """The CLIP's and the style scorer's embeddings of a batch of images, preprocessed once
    when the two models read images the same way (the toy CLIP and the toy scorer do; so do
    ViT-L-14 and CSD-ViT-L, both OpenAI's 224 px transform)."""

    def __init__(self, clip, preprocess, scorer, device: str):
        self.clip, self.preprocess, self.scorer, self.device = clip, preprocess, scorer, device
        self.shared = transform_steps(preprocess) == transform_steps(scorer.preprocess)

    @torch.no_grad()
    def __call__(self, images: list[Image.Image]) -> tuple[torch.Tensor, dict]:
        """(CLIP features, the scorer's embeddings as numpy arrays)."""
        batch = preprocess_batch(self.preprocess, images)
        found = embed(self.scorer, images, self.device, batch if self.shared else None)
        features = image_features(self.clip, batch, self.device)
        return features, {kind: values.numpy() for kind, values in found.items()}


def write_embeddings(
    path: str | Path, rows: list[dict], embedded: dict[str, list], greys: list | None = None
) -> Path:
    """Every image's scorer embeddings (`style`, `content`, `structure`, one row each, in the
    order of `rows`) and, when given, its grey levels (`grey`), with the (model, variant,
    seed, CFG scale) of each row as metadata. The base model's job writes its greys too, so
    that every other score job compares with its pictures without decoding or embedding
    them again."""
    tensors = {
        kind: torch.from_numpy(np.concatenate(parts)) if parts else torch.zeros(0)
        for kind, parts in embedded.items()
    }
    if greys:
        tensors["grey"] = torch.from_numpy(np.stack(greys))
    keys = [[row["model"], *recipe(row)] for row in rows]
    return write_safetensors(path, tensors, {"images": json.dumps(keys)})


def read_embeddings(path: str | Path) -> dict[tuple, dict[str, np.ndarray]]:
    """write_embeddings' file as {recipe: {kind: embedding, and `grey` where written}}."""
    tensors, metadata = read_safetensors(path)
    arrays = {kind: values.numpy() for kind, values in tensors.items()}
    return {
        tuple(key[1:]): {kind: values[i] for kind, values in arrays.items()}
        for i, key in enumerate(json.loads(metadata["images"]))
    }


def base_pictures(
    entries: list[dict], folder: Path, stored: dict, scorer, device: str, batch_size: int
) -> dict[tuple, dict]:
    """Per recipe, the base model's picture's grey levels and embeddings: read from its score
    job's file (`stored`), or decoded and embedded (by the scorer alone) where missing."""
    missing = [e for e in entries if "grey" not in stored.get(recipe(e), {})]
    for batch in in_batches(missing, batch_size):
        images = [load_rgb(folder / entry["file"]) for entry in batch]
        found = embed(scorer, images, device)
        for i, (entry, image) in enumerate(zip(batch, images, strict=True)):
            stored[recipe(entry)] = {
                **{kind: values[i].numpy() for kind, values in found.items()},
                "grey": grey_levels(image),
            }
    return {recipe(entry): stored[recipe(entry)] for entry in entries}


def in_batches(images: list, size: int):
    for start in range(0, len(images), size):
        yield images[start : start + size]


def score_group(
    *,
    samples_manifest: str | Path,
    base_manifest: str | Path,
    dataset_dir: str | Path,
    variants: list[dict],
    clip_model: str,
    style_model: str,
    structure_model: str | None,
    out_path: str | Path,
    embeddings_path: str | Path | None = None,
    base_embeddings: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = SCORE_BATCH,
) -> dict:
    """Score every image of one sample job (a run, or the base model); write out_path, and
    the images' embeddings to embeddings_path. `base_embeddings`: the base model's score
    job's embeddings file, read instead of embedding its pictures again."""
    dataset_dir = Path(dataset_dir)
    model, preprocess, tokenizer = load_clip(clip_model, device)
    embedder = Embedder(
        model, preprocess, load_scorer(style_model, structure_model, device), device
    )
    still_entries = read_json(dataset_dir / "manifest.json")["images"]
    stills = [load_rgb(dataset_dir / e["file"]) for e in still_entries]
    dataset_histogram = np.mean([colour_histogram(np.asarray(s)) for s in stills], axis=0)
    parts = [embedder(batch) for batch in in_batches(stills, batch_size)]
    centroid = torch.cat([features for features, _ in parts]).mean(dim=0)
    centroid = centroid / centroid.norm()
    style_centroid = np.concatenate([found["style"] for _, found in parts]).mean(axis=0)
    style_centroid /= np.linalg.norm(style_centroid)
    trained = training_images(still_entries)  # copies are of what a model trained on
    trained_tiny = np.stack([tiny_image(stills[i]) for i in trained])
    base_prompts = {v["name"]: v["base_prompt"] for v in variants}
    subjects = {v["name"]: v.get("subject", PORTRAIT) for v in variants}
    names = list(base_prompts)
    prompt_features = dict(
        zip(
            names,
            text_features(model, tokenizer, [base_prompts[n] for n in names], device),
            strict=True,
        )
    )

    # The base model's picture of each recipe, once (from the base model's score job).
    root, base_root = Path(samples_manifest).parent, Path(base_manifest).parent
    entries = read_json(samples_manifest)["images"]
    wanted = {recipe(e) for e in entries if e["model"] != "base"}
    base_entries = [e for e in read_json(base_manifest)["images"] if recipe(e) in wanted]
    stored = read_embeddings(base_embeddings) if base_embeddings and wanted else {}
    base = base_pictures(base_entries, base_root, stored, embedder.scorer, device, batch_size)

    only_base = not wanted  # the base model's own job
    scored, kept, greys = [], {"style": [], "content": [], "structure": []}, []
    for batch in tqdm(list(in_batches(entries, batch_size)), desc="scoring", unit="batch"):
        images = [load_rgb(root / e["file"]) for e in batch]
        features, embedded = embedder(images)
        for kind, parts in kept.items():
            parts.append(embedded[kind])
        histograms = colour_histograms(np.stack([np.asarray(image) for image in images]))
        compared = []  # (row, its grey levels): SSIM against the base picture, batch by batch
        for i, (entry, image, feature) in enumerate(zip(batch, images, features, strict=True)):
            nearest, likeness = nearest_still(tiny_image(image), trained_tiny)
            row = {
                **entry,
                "subject": subjects[entry["variant"]],
                "style_csd": float(embedded["style"][i] @ style_centroid),
                "content": None,
                "fidelity_dino": None,
                "style_colour": float(np.minimum(histograms[i], dataset_histogram).sum()),
                "style_clip": float(feature @ centroid),
                "fidelity_prompt": float(feature @ prompt_features[entry["variant"]]),
                "fidelity_base": None,
                "still_likeness": likeness,
                "nearest_still": still_entries[trained[nearest]]["file"],
            }
            grey = grey_levels(image)
            if only_base:  # kept for the other score jobs
                greys.append(grey)
            reference = base.get(recipe(entry)) if entry["model"] != "base" else None
            if reference is not None:
                compared.append((row, grey))
                row["content"] = float(embedded["content"][i] @ reference["content"])
                row["fidelity_dino"] = float(embedded["structure"][i] @ reference["structure"])
            scored.append(row)
        if compared:
            mine = np.stack([grey for _, grey in compared]).astype(np.float64)
            theirs = np.stack([base[recipe(row)]["grey"] for row, _ in compared])
            values = ssim_batch(mine, theirs.astype(np.float64))
            for (row, _), value in zip(compared, values, strict=True):
                row["fidelity_base"] = float(value)
    models, per_subject = summarise(scored), by_subject(scored)
    if scored:
        structure = np.concatenate(kept["structure"])
        for name, spread in diversity(scored, structure).items():
            models[name]["diversity"] = spread
        for subject, summary in per_subject.items():
            members = [i for i, row in enumerate(scored) if row["subject"] == subject]
            rows = [scored[i] for i in members]
            for name, spread in diversity(rows, structure[members]).items():
                summary[name]["diversity"] = spread
    result = {
        "clip_model": clip_model,
        "style_model": style_model,
        "structure_model": embedder.scorer.structure_name,
        "images": scored,
        "models": models,
        "subjects": per_subject,
    }
    if embeddings_path:
        write_embeddings(embeddings_path, scored, kept, greys)
    write_json(out_path, result, indent=None)  # large, and read by programs
    return result
