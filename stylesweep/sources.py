"""Where a run's inputs come from: built-in names, single-file checkpoints, local folders,
the local Hugging Face cache, the demo's portrait.

Only the standard library is imported here: the Snakefile uses this module while it is
parsed, and `snakemake -n` must answer at once.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from importlib.resources import files
from pathlib import Path

BUILTIN_TOY = "builtin:toy"  # trained by the project on a drawn world; the demo's model
BUILTIN_TINY = "builtin:tiny"  # random weights, for fast tests
# SD 1.5's architecture with random weights (4 GB): rehearsals of the real job's sizes
BUILTIN_SD15_RANDOM = "builtin:sd15-random"
BUILTIN_MODELS = (BUILTIN_TOY, BUILTIN_TINY, BUILTIN_SD15_RANDOM)
# Stable Diffusion 1.5's component configs, shipped so that single files convert offline.
SD15_CONFIGS = Path(str(files("stylesweep") / "data" / "sd15"))
BUILTIN_STILLS = "builtin:demo"
# The clip the demo's stills folder holds beside its stills (stills:vsynth.mp4 restyles it).
# scripts/make_demo_stills.py names it too (kept as it is, so finished demos are not redone);
# tests/test_restyle.py checks that the two agree.
DEMO_CLIP = "vsynth.mp4"
# an animation's soundtrack: the demo's generated track (rule make_demo_soundtrack)
BUILTIN_SOUNDTRACK = "builtin:demo"
BUILTIN_PORTRAIT = "builtin:astronaut"
DRAWN_PORTRAIT = "builtin:drawn"  # a portrait of the toy world, drawn by code
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
# What a stills folder may hold. The dataset stage takes frames from videos, and from an
# animated GIF (a .gif of one frame is a still, so .gif is listed with the images).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"}
HEIF_SUFFIXES = {".heic", ".heif"}  # iPhone photos; Pillow needs a plugin for them
CAPTION_SUFFIXES = {".txt", ".caption"}  # kohya's caption sidecars, beside their stills
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
WEIGHT_COMPONENTS = ("unet", "vae", "text_encoder")
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class BaseModelError(ValueError):
    """A base model that is missing or not shaped like Stable Diffusion 1.5."""


def is_builtin(name: str) -> bool:
    return name.startswith("builtin:")


def check_builtin(name: str) -> str:
    if name not in BUILTIN_MODELS:
        raise BaseModelError(
            f"base model {name} is not a built-in model; the built-in models are "
            f"{', '.join(BUILTIN_MODELS)}"
        )
    return name


def is_single_file(name: str) -> bool:
    return Path(name).suffix.lower() in SINGLE_FILE_SUFFIXES


def check_single_file(path: str | Path) -> Path:
    """Fail with one line unless `path` looks like a checkpoint file, reading only its header.

    A .safetensors file starts with the length of a JSON header; a .ckpt is a zip (torch's
    format) or a pickle. The weights themselves are checked when the file is converted.
    """
    path = Path(path)
    if not path.is_file():
        raise BaseModelError(f"{path} does not exist; fix the path of base_model in config.yaml")
    with path.open("rb") as handle:
        head = handle.read(8)
        if path.suffix.lower() == ".safetensors":
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            try:
                if not 0 < size <= min(100_000_000, path.stat().st_size - 8):
                    raise ValueError("bad header length")
                json.loads(handle.read(size))
            except ValueError:
                raise BaseModelError(
                    f"base model file {path} is not a readable .safetensors file (its header "
                    "is damaged or it is another kind of file); download it again"
                ) from None
        elif not (head.startswith(b"PK") or head[:1] == b"\x80"):
            raise BaseModelError(
                f"base model file {path} is neither a zip nor a pickle, so not a .ckpt "
                "checkpoint; download it again"
            )
    return path


def resolve_base_model(name: str, cache_dir: str | Path | None = None) -> Path:
    """A local diffusers folder, or a hub id (`org/name`) resolved from the local cache only.

    No download is ever attempted: a hub id missing from the cache is an error that says how
    to fetch it where there is network access.
    """
    if Path(name).exists():
        if Path(name).is_file():
            raise BaseModelError(
                f"base model {name} is a file but neither .safetensors nor .ckpt: give a "
                "single-file SD 1.5 checkpoint, or a folder in diffusers layout"
            )
        return check_model_folder(name)
    if not HUB_ID.match(name):
        raise BaseModelError(
            f"base model {name} does not exist: set base_model in config.yaml to a built-in "
            f"model ({', '.join(BUILTIN_MODELS)}), a local diffusers folder, or a hub id in "
            "the local cache"
        )
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(name, cache_dir=cache_dir, local_files_only=True)
    except OSError as error:
        raise BaseModelError(
            f"base model {name} is not in the local Hugging Face cache; fetch it once where "
            f"there is network access (`hf download {name}`), or point base_model at a folder"
        ) from error
    return check_model_folder(folder)


# The scorers' published weights (stylesweep.style_content): a file each must be cached.
CSD_REPO, CSD_FILE = "tomg-group-umd/CSD-ViT-L", "pytorch_model.bin"
DINO_FILE = "config.json"  # of a DINOv2 repo, as transformers reads it first


def uncached_scorers(style_model: str, structure_model: str | None) -> list[str]:
    """The hub repos of the configured scorers that the local Hugging Face cache lacks (a
    local folder or a built-in scorer needs nothing), so the workflow can say so before its
    first job rather than at the first score, hours of training later."""
    wanted = []
    if style_model == CSD_REPO and not Path(style_model).exists():
        wanted.append((CSD_REPO, CSD_FILE))
    if structure_model and not Path(structure_model).exists():
        wanted.append((structure_model, DINO_FILE))
    if not wanted:
        return []
    from huggingface_hub import try_to_load_from_cache

    return [
        repo for repo, file in wanted if not isinstance(try_to_load_from_cache(repo, file), str)
    ]


def check_model_folder(folder: str | Path) -> Path:
    """Fail with one clear line unless `folder` is a diffusers SD 1.5 layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BaseModelError(
            f"base model folder {folder} does not exist: set base_model in config.yaml to a "
            f"built-in model ({', '.join(BUILTIN_MODELS)}) or to a local Stable Diffusion 1.5 "
            "folder in diffusers layout"
        )
    missing = [name for name in COMPONENTS if not (folder / name).is_dir()]
    if missing:
        raise BaseModelError(
            f"base model folder {folder} lacks {', '.join(missing)}: it must hold a diffusers "
            "layout (unet/, vae/, text_encoder/, tokenizer/, scheduler/)"
        )
    for name in WEIGHT_COMPONENTS:
        check_weights_are_safetensors(folder / name)
    return folder


def check_weights_are_safetensors(component: Path) -> None:
    """Refuse a component whose weights are only a pickle (diffusers' `.bin`).

    Loading a pickle can run any code in it (diffusers says only "Defaulting to unsafe
    serialization", then fails deep in torch.load if the pickle needs more than tensors),
    and the base model's hash covers .safetensors files only.
    """
    if any(component.glob("*.safetensors")):
        return
    pickles = sorted(p for p in component.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise BaseModelError(
            f"base model file {pickles[0]} is a pickle, which stylesweep does not load (it "
            "could run code): convert the model to .safetensors where you trust it (diffusers' "
            "save_pretrained writes them) and set base_model to the converted folder"
        )


def astronaut_path() -> Path:
    """The public-domain NASA portrait of Eileen Collins that scikit-image ships."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image is not installed: it ships the demo portrait")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the scikit-image install")
    return path
