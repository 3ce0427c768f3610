"""Prepare training images: RGB, square crop, one resolution, and a manifest of what was kept."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stylesweep.files import atomic_path, sha256_file, write_json

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"}
CAPTION_SUFFIXES = {".txt", ".caption"}
CROPS = ("center", "smart")
FEW_IMAGES = 5


class DatasetError(ValueError):
    """The stills folder cannot give a training set."""


def to_rgb(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation and flatten any transparency onto white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def smart_square(image: Image.Image) -> tuple[int, int, int, int]:
    """The square window along the long side that holds the most edge detail.

    A dozen lines of our own rather than a dependency: the window slides on one axis only,
    scored by the sum of gradient magnitudes of a small greyscale copy.
    """
    width, height = image.size
    side = min(width, height)
    if width == height:
        return (0, 0, width, height)
    scale = 128 / max(width, height)
    small = np.asarray(
        image.convert("L").resize((max(1, round(width * scale)), max(1, round(height * scale)))),
        dtype=np.float32,
    )
    gy, gx = np.gradient(small)
    energy = np.hypot(gx, gy).sum(axis=0 if width > height else 1)
    window = max(1, round(side * scale))
    sums = np.convolve(energy, np.ones(window), mode="valid")
    offset = min(round(int(np.argmax(sums)) / scale), max(width, height) - side)
    return (offset, 0, offset + side, side) if width > height else (0, offset, side, offset + side)


def square_crop(image: Image.Image, resolution: int, crop: str) -> Image.Image:
    if crop == "center":
        return ImageOps.fit(image, (resolution, resolution), method=Image.Resampling.LANCZOS)
    if crop == "smart":
        box = smart_square(image)
        return image.crop(box).resize((resolution, resolution), Image.Resampling.LANCZOS)
    raise DatasetError(f"dataset.crop must be one of {', '.join(CROPS)}, not {crop!r}")


def filename_caption(stem: str) -> str:
    """The fast-DreamBooth convention: the file name is the caption, less a counter.

    `vsynth (3)`, `vsynth_03` and `vsynth-3` all give `vsynth`; underscores become spaces.
    """
    stem = re.sub(r"[\s_-]*(\(\d+\)|\d+)$", "", stem)
    return " ".join(stem.replace("_", " ").split())


def sidecar_caption(image: Path) -> str | None:
    """The kohya convention: `image.txt` (or `.caption`) beside the image holds its caption."""
    for suffix in CAPTION_SUFFIXES:
        path = image.with_suffix(suffix)
        if path.is_file():
            return " ".join(path.read_text(encoding="utf-8").split())
    return None


def prepare_dataset(stills: str | Path, out_dir: str | Path, resolution: int, crop: str) -> dict:
    """Convert every image in `stills` to a square RGB PNG of `resolution` pixels in `out_dir`.

    Returns (and writes to out_dir/manifest.json) the list of kept images with their source,
    sha256 and original size, and every skipped file with the reason.
    """
    stills, out_dir = Path(stills), Path(out_dir)
    if not stills.is_dir():
        raise DatasetError(
            f"stills folder {stills} does not exist: set dataset.stills in config.yaml"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    images: list[dict] = []
    skipped: list[dict] = []
    used_names: set[str] = set()
    for source in sorted(p for p in stills.rglob("*") if p.is_file()):
        relative = source.relative_to(stills).as_posix()
        suffix = source.suffix.lower()
        if source.name.startswith(".") or suffix in CAPTION_SUFFIXES:
            continue
        if suffix in VIDEO_SUFFIXES:
            skipped.append(
                {"source": relative, "reason": "video: frame extraction is not supported yet"}
            )
            continue
        if suffix not in IMAGE_SUFFIXES:
            skipped.append(
                {"source": relative, "reason": f"not an image file ({suffix or 'no suffix'})"}
            )
            continue
        try:
            with Image.open(source) as opened:
                opened.load()
                original_size = list(opened.size)
                image = to_rgb(opened)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            skipped.append({"source": relative, "reason": f"unreadable image: {error}"})
            log.warning("skipping %s: unreadable image (%s)", relative, error)
            continue
        name = source.stem
        while name in used_names:
            name += "_"
        used_names.add(name)
        with atomic_path(out_dir / f"{name}.png") as tmp:
            square_crop(image, resolution, crop).save(tmp, format="PNG")
        images.append(
            {
                "file": f"{name}.png",
                "source": relative,
                "sha256": sha256_file(source),
                "original_size": original_size,
                "caption": sidecar_caption(source),
                "filename_caption": filename_caption(source.stem),
            }
        )
    if not images:
        raise DatasetError(
            f"no usable image in {stills} ({len(skipped)} skipped): add png, jpg or webp stills"
        )
    if len(images) < FEW_IMAGES:
        warnings.warn(
            f"only {len(images)} usable image(s) in {stills}: a style needs variety to be learnt "
            f"rather than copied; add stills (20 to 30 is usual)",
            stacklevel=2,
        )
    manifest = {"resolution": resolution, "crop": crop, "images": images, "skipped": skipped}
    write_json(out_dir / "manifest.json", manifest)
    log.info("prepared %d images, skipped %d", len(images), len(skipped))
    return manifest
