"""Style apart from content: CSD's model, and DINOv2 for structure.

CSD ("Measuring Style Similarity in Diffusion Models", Somepalli et al. 2024, arXiv 2404.01292)
is a CLIP vision tower whose final projection is replaced by two: a style projection, trained
so that pictures in one style are close whatever they show, and a content projection, trained
on what pictures show. Its forward returns the tower's pooled feature and both unit-length
embeddings. Here the tower is open_clip's `VisionTransformer` (the same parameter names as
OpenAI's CLIP, which CSD's checkpoint uses), so one class loads both:

- `builtin:toy`: the toy world's scorer, shipped with the toy weights (`python -m
  stylesweep.toylab train --only scorer` retrains it from the shipped CLIP);
- `tomg-group-umd/CSD-ViT-L`: the published weights, from the local Hugging Face cache.

DINOv2 (`facebook/dinov2-base`, through transformers) measures structure, the DreamBooth
paper's DINO metric; on builtin models the scorer's pooled feature stands in for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from stylesweep.clip_model import preprocess_batch
from stylesweep.sources import BUILTIN_MODELS, CSD_FILE, CSD_REPO

DINO_REPO = "facebook/dinov2-base"
TOY_SCORER = "builtin:toy"
WEIGHTS = "style_content.safetensors"
CONFIG = "style_content_config.json"
# CSD-ViT-L's tower: OpenAI CLIP ViT-L/14 (open_clip's ViT-L-14 config, QuickGELU).
CSD_VIT_L = {
    "embed_dim": 768,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14},
    "preprocess_cfg": {"size": 224, "interpolation": "bicubic", "resize_mode": "shortest"},
}


class ScorerMissingError(RuntimeError):
    """A scorer's weights are not on this machine."""


class StyleContentModel(nn.Module):
    """CSD's architecture: a CLIP vision tower without its projection, then a style and a
    content projection of its pooled feature (both start as copies of the tower's own)."""

    def __init__(self, embed_dim: int, vision_cfg: dict, quick_gelu: bool = True):
        from open_clip.model import CLIPVisionCfg, _build_vision_tower  # heavy: when built

        super().__init__()
        backbone = _build_vision_tower(embed_dim, CLIPVisionCfg(**vision_cfg), quick_gelu)
        self.last_layer_style = nn.Parameter(backbone.proj.detach().clone())
        self.last_layer_content = nn.Parameter(backbone.proj.detach().clone())
        backbone.proj = None
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pooled feature, content embedding, style embedding); the embeddings unit length."""
        feature = self.backbone(images)
        content = F.normalize(feature @ self.last_layer_content, dim=-1)
        style = F.normalize(feature @ self.last_layer_style, dim=-1)
        return feature, content, style


@dataclass
class Scorer:
    """A style-and-content model with its preprocessing, and the structure model (None where
    the style model's pooled feature stands in for it)."""

    name: str
    model: StyleContentModel
    preprocess: object
    structure: tuple | None = None  # (transformers model, image processor)
    structure_name: str = "pooled feature"


def build(config: dict) -> tuple[StyleContentModel, object]:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    model = StyleContentModel(config["embed_dim"], config["vision_cfg"], config["quick_gelu"])
    preprocess = image_transform_v2(PreprocessCfg(**config["preprocess_cfg"]), is_train=False)
    return model.eval(), preprocess


def save_scorer(model: StyleContentModel, config: dict, folder: str | Path) -> Path:
    """The scorer as safetensors (float16: half the file) and its config, in `folder`."""
    from stylesweep.files import write_json, write_safetensors

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    write_safetensors(folder / WEIGHTS, state)
    write_json(folder / CONFIG, config)
    return folder


def load_scorer_folder(folder: str | Path) -> tuple[StyleContentModel, object, dict]:
    from safetensors.torch import load_file

    folder = Path(folder)
    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    model, preprocess = build(config)
    state = {k: v.float() for k, v in load_file(folder / WEIGHTS).items()}
    model.load_state_dict(state)
    return model, preprocess, config


def csd_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """CSD's published checkpoint as this model's state dict: the weights sit under
    `model_state_dict` and carry DataParallel's `module.` prefix."""
    state = checkpoint.get("model_state_dict", checkpoint)
    return {k.removeprefix("module."): v.float() for k, v in state.items()}


def hub_file(repo: str, filename: str, what: str) -> str:
    """A file of a Hugging Face repo from the local cache only, or one error with the fix."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return hf_hub_download(repo, filename, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        raise not_cached(what, repo) from None


def not_cached(what: str, repo: str) -> ScorerMissingError:
    return ScorerMissingError(
        f"the {what} ({repo}) is not in the local Hugging Face cache; stylesweep never "
        f"downloads at run time. Fetch it once with `hf download {repo}`"
    )


def load_csd(source: str = CSD_REPO) -> tuple[StyleContentModel, object]:
    """CSD-ViT-L from the local cache (or a folder holding its checkpoint). The checkpoint is
    a pickle; `weights_only` loads it without running code."""
    local = Path(source) / CSD_FILE
    path = str(local) if local.is_file() else hub_file(CSD_REPO, CSD_FILE, "style scorer")
    model, preprocess = build(CSD_VIT_L)
    with torch.serialization.safe_globals(checkpoint_globals()):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    model.load_state_dict(csd_state_dict(checkpoint))
    return model, preprocess


def checkpoint_globals() -> list:
    """What CSD's training checkpoint pickles besides tensors, allowed by name and nothing
    more: the run's argparse.Namespace and the numpy scalars of its optimizer state."""
    import argparse
    import importlib

    import numpy as np

    try:  # numpy 2 moved numpy.core to numpy._core; the checkpoint names the old path
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:
        multiarray = importlib.import_module("numpy.core.multiarray")
    allowed = [argparse.Namespace, np.dtype, multiarray.scalar,
               (multiarray.scalar, "numpy.core.multiarray.scalar")]  # fmt: skip
    allowed += [getattr(np.dtypes, name) for name in ("Float64DType", "Int64DType")]
    return allowed


def load_dino(repo: str = DINO_REPO) -> tuple:
    """DINOv2 (model, image processor) from a local folder or the local Hugging Face cache."""
    from transformers import AutoImageProcessor, AutoModel

    try:
        processor = AutoImageProcessor.from_pretrained(repo, local_files_only=True)
        model = AutoModel.from_pretrained(repo, local_files_only=True)
    except OSError:
        raise not_cached("structure model", repo) from None
    return model.eval(), processor


def load(name: str, structure: str | None, device: str = "cpu") -> Scorer:
    """The scorer `name` (builtin:* or the CSD repo) and, for real runs, DINOv2 `structure`."""
    if name in BUILTIN_MODELS:
        from stylesweep.toy.shipped import SCORER_FOLDER, checked

        model, preprocess, _ = load_scorer_folder(checked(part=SCORER_FOLDER) / SCORER_FOLDER)
    elif name == CSD_REPO or Path(name).is_dir():
        model, preprocess = load_csd(name)
    else:
        raise ValueError(
            f"unknown style scorer {name!r}: use {TOY_SCORER}, {CSD_REPO} or a folder with "
            f"CSD's {CSD_FILE}"
        )
    scorer = Scorer(name, model.to(device), preprocess)
    if structure:
        dino, processor = load_dino(structure)
        scorer.structure, scorer.structure_name = (dino.to(device), processor), structure
    return scorer


@torch.no_grad()
def embed(
    scorer: Scorer,
    images: list[Image.Image],
    device: str = "cpu",
    batch: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Per image: `style` and `content` (unit length) and `structure` (unit length: DINOv2's
    class token, or the scorer's pooled feature). `batch`: the images already through the
    scorer's preprocessing (the CLIP's, where the two agree)."""
    if batch is None:
        batch = preprocess_batch(scorer.preprocess, images)
    feature, content, style = scorer.model(batch.to(device))
    if scorer.structure is not None:
        model, processor = scorer.structure
        inputs = processor(images=images, return_tensors="pt").to(device)
        feature = model(**inputs).pooler_output
    return {
        "style": style.float().cpu(),
        "content": content.float().cpu(),
        "structure": F.normalize(feature.float(), dim=-1).cpu(),
    }
