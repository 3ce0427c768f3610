"""Prepare training images: RGB, square crop, one resolution, and a manifest of what was kept.

Stills are read first, then frames are taken from the videos beside them
(stylesweep/video_stills.py), so that a frame that repeats a still is the one dropped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps, UnidentifiedImageError, features

from stylesweep.files import atomic_path, read_json, sha256_file, write_json, write_safetensors
from stylesweep.settings import VideoSettings
from stylesweep.sources import CAPTION_SUFFIXES, HEIF_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES
from stylesweep.video import VideoError, read_errors
from stylesweep.video_stills import (
    Video,
    dhash,
    evenly,
    hash_distance,
    laplacian_variance,
    read_frames,
)

log = logging.getLogger(__name__)

CROPS = ("center", "smart")
FEW_IMAGES = 5
# a still whose square crop is enlarged more than this many times is warned about
SMALL_FACTOR = 2
MAX_STEM = 120  # output names stay well under the 255 bytes file systems allow
SHOWN_SKIPPED = 5
OFF = "dataset.video_every_seconds and dataset.video_scene_threshold are both null"
READ_ERRORS = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError)


class DatasetError(ValueError):
    """The stills folder cannot give a training set."""


def grey_to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit (`I;16*`), 32-bit integer (`I`) or float (`F`) greyscale image as 8-bit `L`.

    Pillow's own convert() clips these at 255, so most of them came out white. `I;16*` map
    their full 0..65535 range. `I` and `F` say nothing of their range, so the first range that
    holds every value is used: 0..1 (`F` only), 0..255, 0..65535 (`I` only); failing those, the
    image's own min..max. NaN and infinities count as 0.
    """
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    else:
        ranges = [(0.0, 1.0)] if image.mode == "F" else []
        ranges += [(0.0, 255.0)] + ([(0.0, 65535.0)] if image.mode == "I" else [])
        own = (float(values.min()), float(values.max()))
        low, high = next((r for r in ranges if r[0] <= own[0] and own[1] <= r[1]), own)
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.round(scaled).clip(0, 255).astype(np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, bring any depth to 8 bits and flatten transparency onto white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = grey_to_8bit(image)
    if image.has_transparency_data:
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


def safe_stem(stem: str) -> str:
    """A file name stem that Snakemake (which reads `{...}` as a wildcard), shells and the
    report's URLs take as is: ASCII letters, digits, `.`, `_` and `-` only.

    Accents are dropped (`café` gives `cafe`), any other run of characters becomes one `_`;
    never empty, never hidden, never longer than MAX_STEM.
    """
    decomposed = unicodedata.normalize("NFKD", stem)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", plain)[:MAX_STEM].strip("._-") or "image"


def unique_name(stem: str, used: set[str]) -> str:
    """`stem`, or `stem-2`, `stem-3`...: unique even on a case-insensitive file system."""
    name, count = stem, 1
    while name.casefold() in used:
        count += 1
        name = f"{stem}-{count}"
    used.add(name.casefold())
    return name


def frames_note(image: Image.Image) -> str | None:
    """Say so when an animated GIF, PNG or WebP or a multi-page TIFF gives only its first frame."""
    frames = getattr(image, "n_frames", 1)
    if frames <= 1:
        return None
    kind = f"multi-page {image.format}" if image.format == "TIFF" else f"animated {image.format}"
    return f"{kind} ({frames} frames): first frame only"


def small_warning(relative: str, size: tuple[int, int], resolution: int) -> str | None:
    """Warn when the square crop (its side is the shorter side) is enlarged more than
    SMALL_FACTOR times: such a still trains the model on blur."""
    side = min(size)
    if side * SMALL_FACTOR >= resolution:
        return None
    return (
        f"{relative} is only {size[0]}x{size[1]} px: its square crop is enlarged "
        f"{resolution / side:.1f}x to {resolution} px and will look soft; use a larger original"
    )


def one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def printable(relative: str) -> str:
    """`relative` as valid text: bytes that are not UTF-8 (Linux allows them in names) as \\xNN.

    The manifest, the log and the report are UTF-8, so an undecodable name would break them.
    """
    return relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def no_usable_image(stills: Path, skipped: list[dict]) -> DatasetError:
    """One line: the folder, what was skipped and why (the first few), what to add."""
    wanted = f"add {', '.join(sorted(s.lstrip('.') for s in IMAGE_SUFFIXES))} stills"
    if not skipped:
        return DatasetError(one_line(f"no usable image in {stills}: no image file; {wanted}"))
    shown = "; ".join(f"{s['source']}: {s['reason']}" for s in skipped[:SHOWN_SKIPPED])
    more = f"; and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
    return DatasetError(
        one_line(
            f"no usable image in {stills}: {len(skipped)} file(s) skipped ({shown}{more}); {wanted}"
        )
    )


def error_text(error: Exception, source: Path, relative: str) -> str:
    """The error's message with the file's relative path for its absolute one (Pillow gives
    either form): the manifest does not depend on where the stills folder is."""
    text = str(error).replace(repr(str(source)), repr(relative))
    return text.replace(str(source), relative)


def reads_avif() -> bool:
    """Whether this Pillow reads AVIF (11.2 and later, built with libavif, as its wheels are)."""
    try:
        return bool(features.check_module("avif"))
    except ValueError:  # a Pillow that predates AVIF does not know the name
        return False


def kind_reason(suffix: str) -> str | None:
    """Why a file is not read as a still, from its suffix alone; None for an image or a video."""
    if suffix in HEIF_SUFFIXES:
        return (
            f"HEIC/HEIF image ({suffix}): Pillow reads it only with the pillow-heif plugin, "
            "which stylesweep does not load; convert it to PNG, JPEG or AVIF"
        )
    if suffix == ".avif" and not reads_avif():
        return (
            f"AVIF image: this Pillow ({PIL.__version__}) cannot read AVIF; install Pillow 11.2 "
            "or later, or convert it to PNG or JPEG"
        )
    if suffix not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        return f"not an image file ({suffix or 'no suffix'})"
    return None


def is_animation(source: Path) -> bool:
    """An image file of more than one frame (an animated GIF is read as a video when video
    settings are given; without them it gives its first frame, like a still)."""
    try:
        with Image.open(source) as opened:
            return getattr(opened, "n_frames", 1) > 1
    except READ_ERRORS:
        return False  # read as a still, and skipped there with the reason


def read_still(source: Path) -> tuple[Image.Image, list[int], str | None]:
    """The still as RGB, its size on disk and a note when only its first frame is used."""
    with Image.open(source) as opened:
        note = frames_note(opened)  # counting frames seeks through them, then back to the first
        opened.load()
        return to_rgb(opened), list(opened.size), note


def nearest(code: int, seen: list[tuple[int, str]]) -> tuple[int, str] | None:
    """The closest of `seen` (perceptual hash, name) to `code`: (distance, name), or None."""
    return min(((hash_distance(code, h), name) for h, name in seen), default=None)


def dropped_summary(dropped: list[dict]) -> str:
    """`3 blurred, 2 near-duplicates`: how many frames went for each kind of reason."""
    kinds: dict[str, int] = {}
    for entry in dropped:
        kind = entry["reason"].split(":")[0].split(" of ")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    plural = {"near-duplicate": "near-duplicates"}
    return ", ".join(
        f"{count} {plural.get(kind, kind) if count > 1 else kind}" for kind, count in kinds.items()
    )


def video_frames(
    source: Path,
    relative: str,
    digest: str,
    settings: VideoSettings,
    resolution: int,
    crop: str,
    out_dir: Path,
    used_names: set[str],
    seen: list[tuple[int, str]],
) -> tuple[list[dict], list[dict], dict | None, str | None]:
    """Take, crop and filter the frames of one video; write those kept.

    Returns the kept frames' manifest entries, the dropped frames (time and reason), the
    video's entry, and why the video gives nothing (unreadable, or every frame dropped), if so.
    A frame is compared with `seen` (every still and frame kept so far) and with the frames
    of this video that passed before it; the frames kept are added to `seen`. Blur is only
    judged on frames: a still was chosen by the artist, a frame by the clock.
    """
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".frames-") as scratch:
        return _video_frames(
            source, relative, digest, settings, resolution, crop, out_dir, used_names, seen,
            Path(scratch),
        )  # fmt: skip


def _video_frames(
    source: Path,
    relative: str,
    digest: str,
    settings: VideoSettings,
    resolution: int,
    crop: str,
    out_dir: Path,
    used_names: set[str],
    seen: list[tuple[int, str]],
    scratch: Path,
) -> tuple[list[dict], list[dict], dict | None, str | None]:
    """video_frames, with the frames that pass waiting in `scratch` (on disk, not in memory:
    an hour of video gives thousands) until the cap has chosen among them."""
    video = Video(source)
    passed: list[tuple[float, str, Path, int]] = []
    dropped: list[dict] = []
    error = None

    def drop(time: float, reason: str) -> None:
        dropped.append({"source": relative, "time": time, "reason": reason})

    try:
        for frame in read_frames(video, settings.every_seconds, settings.scene_threshold):
            square = square_crop(to_rgb(frame.image), resolution, crop)
            sharpness = laplacian_variance(square)
            if sharpness < settings.blur_threshold:
                drop(
                    frame.time,
                    f"blurred: variance of the Laplacian {sharpness:.1f} is below "
                    f"blur_threshold {settings.blur_threshold:g}",
                )
                continue
            code = dhash(square)
            if settings.dedupe_distance is not None:
                here = [(h, f"{relative} at {t:.3f} s") for t, _, _, h in passed]
                near = nearest(code, seen + here)
                if near is not None and near[0] <= settings.dedupe_distance:
                    drop(frame.time, f"near-duplicate of {near[1]} (hash distance {near[0]})")
                    continue
            waiting = scratch / f"{len(passed)}.png"
            square.save(waiting, format="PNG")
            passed.append((frame.time, frame.taken, waiting, code))
    except (*read_errors(), VideoError) as caught:
        error = error_text(caught, source, relative)
    if not video.taken:
        return [], [], None, f"video unreadable: {error or 'no frame could be decoded'}"
    note = video.short_note()
    if error:
        note = f"decoding stopped after {video.last_time:.3f} s: {error}"
    if note:
        log.warning("%s: %s; the frames before it are used", relative, note)
    warning = small_warning(relative, tuple(video.size), resolution)
    if warning:
        log.warning("%s", warning)
    chosen = set(evenly(len(passed), settings.max_frames))
    images = []
    for index, (time, taken, waiting, code) in enumerate(passed):
        if index not in chosen:
            drop(
                time,
                f"over video_max_frames: {len(passed)} frames passed, "
                f"{settings.max_frames} kept spread over the video",
            )
            continue
        name = unique_name(f"{safe_stem(source.stem)}_{round(time * 1000):06d}ms", used_names)
        os.replace(waiting, out_dir / f"{name}.png")  # the same folder's file system: atomic
        seen.append((code, f"{relative} at {time:.3f} s"))
        images.append(
            {
                "file": f"{name}.png",
                "source": relative,
                "time": time,
                "taken": taken,
                "sha256": digest,
                "original_size": video.size,
                "filename_caption": filename_caption(printable(source.stem)),
                "note": note,
                "warning": warning,
            }
        )
    dropped.sort(key=lambda entry: entry["time"])
    entry = {
        "source": relative,
        "sha256": digest,
        "size": video.size,
        "fps": video.fps,
        "duration": round(video.duration, 3),
        "frames_decoded": video.decoded,
        "frames_taken": len(video.taken),
        "frames_kept": len(images),
        "frames_dropped": len(dropped),
        "note": note,
    }
    log.info(
        "%s: %.1f s, %d frames decoded, %d taken, %d kept",
        relative, entry["duration"], video.decoded, len(video.taken), len(images),
    )  # fmt: skip
    reason = None
    if not images:
        reason = f"video: all {len(dropped)} frames taken were dropped ({dropped_summary(dropped)})"
    return images, dropped, entry, reason


def hold_out(images: list[dict], count: int) -> None:
    """Mark `count` images `validation`, the first by their sha256; at least one must train."""
    if count and count >= len(images):
        raise DatasetError(
            f"dataset.validation_count is {count} but the stills give {len(images)} usable "
            f"image(s): lower it so that some are left to train on"
        )
    for entry in sorted(images, key=lambda e: e["sha256"])[:count]:
        entry["validation"] = True


def training_images(images: list[dict]) -> list[int]:
    """The positions of the images training uses (those not held out for validation)."""
    return [i for i, entry in enumerate(images) if not entry.get("validation")]


def prepare_dataset(
    stills: str | Path,
    out_dir: str | Path,
    resolution: int,
    crop: str,
    video: VideoSettings | dict | None = None,
    validation_count: int = 0,
) -> dict:
    """Convert every image in `stills` to a square RGB PNG of `resolution` pixels in `out_dir`,
    and take frames from every video (and animated GIF) there with the `video` settings (the
    config keys of VideoSettings.from_config; without them, or with neither the clock nor the
    cuts on, videos are skipped and an animated GIF gives its first frame).

    Returns (and writes to out_dir/manifest.json) the list of kept images with their source,
    sha256, original size, note (first frame only) and warning (small), a frame's also with its
    time in the video and why it was taken; every skipped file with the reason; every video
    read, and every frame taken from one and dropped, with the reason. Hidden files and
    folders and caption sidecars are passed over. `validation_count` images, the first by
    content hash (so adding a still rarely changes the choice), are marked `validation`:
    training leaves them out, the validation loss is measured on them.
    """
    stills, out_dir = Path(stills), Path(out_dir)
    if not stills.is_dir():
        raise DatasetError(
            f"stills folder {stills} does not exist: set dataset.stills in config.yaml"
        )
    if isinstance(video, dict):
        video = VideoSettings.from_config(video)
    out_dir.mkdir(parents=True, exist_ok=True)
    images: list[dict] = []
    skipped: list[dict] = []
    dropped: list[dict] = []
    videos: list[dict] = []
    video_files: list[tuple[Path, str]] = []
    used_names: set[str] = set()
    kept_by_hash: dict[str, str] = {}
    seen: list[tuple[int, str]] = []  # perceptual hash and name of every still and frame kept
    order: dict[str, int] = {}  # skipped files are listed in the folder's order
    for source in sorted(p for p in stills.rglob("*") if p.is_file()):
        parts = source.relative_to(stills).parts
        relative = printable("/".join(parts))
        order[relative] = len(order)
        suffix = source.suffix.lower()
        if any(part.startswith(".") for part in parts) or suffix in CAPTION_SUFFIXES:
            continue
        if reason := kind_reason(suffix):
            skipped.append({"source": relative, "reason": reason})
            continue
        reads_videos = video is not None and not video.off
        if suffix in VIDEO_SUFFIXES or (reads_videos and suffix == ".gif" and is_animation(source)):
            video_files.append((source, relative))  # after every still: see the module's doc
            continue
        try:
            digest = sha256_file(source)
            if digest in kept_by_hash:
                reason = f"duplicate of {kept_by_hash[digest]}"
                skipped.append({"source": relative, "reason": reason})
                log.warning("skipping %s: %s", relative, reason)
                continue
            image, original_size, note = read_still(source)
        except READ_ERRORS as error:
            reason = f"unreadable image: {error_text(error, source, relative)}"
            skipped.append({"source": relative, "reason": reason})
            log.warning("skipping %s: %s", relative, reason)
            continue
        if note:
            log.warning("%s: %s", relative, note)
        if warning := small_warning(relative, image.size, resolution):
            log.warning("%s", warning)
        name = unique_name(safe_stem(source.stem), used_names)
        square = square_crop(image, resolution, crop)
        with atomic_path(out_dir / f"{name}.png") as tmp:
            square.save(tmp, format="PNG")
        kept_by_hash[digest] = relative
        seen.append((dhash(square), relative))
        images.append(
            {
                "file": f"{name}.png",
                "source": relative,
                "sha256": digest,
                "original_size": original_size,
                "filename_caption": filename_caption(printable(source.stem)),
                "note": note,
                "warning": warning,
            }
        )
    for source, relative in video_files:
        if video is None or video.off:
            why = "no video settings" if video is None else OFF
            skipped.append({"source": relative, "reason": f"video: not read ({why})"})
            continue
        try:
            digest = sha256_file(source)
        except OSError as error:
            reason = f"video unreadable: {error_text(error, source, relative)}"
            skipped.append({"source": relative, "reason": reason})
            log.warning("skipping %s: %s", relative, reason)
            continue
        if digest in kept_by_hash:
            reason = f"duplicate of {kept_by_hash[digest]}"
            skipped.append({"source": relative, "reason": reason})
            log.warning("skipping %s: %s", relative, reason)
            continue
        kept_by_hash[digest] = relative
        frames, frames_dropped, entry, reason = video_frames(
            source, relative, digest, video, resolution, crop, out_dir, used_names, seen
        )
        images += frames
        dropped += frames_dropped
        if entry:
            videos.append(entry)
        if reason:
            skipped.append({"source": relative, "reason": reason})
            log.warning("skipping %s: %s", relative, reason)
    skipped.sort(key=lambda entry: order[entry["source"]])
    if not images:
        raise no_usable_image(stills, skipped)
    if len(images) < FEW_IMAGES:
        warnings.warn(
            f"only {len(images)} usable image(s) in {stills}: a style needs variety to be learnt "
            f"rather than copied; add stills (20 to 30 is usual)",
            stacklevel=2,
        )
    hold_out(images, validation_count)
    manifest = {
        "resolution": resolution,
        "crop": crop,
        "images": images,
        "skipped": skipped,
        "video": video.as_config() if video else None,
        "videos": videos,
        "dropped": dropped,
    }
    write_json(out_dir / "manifest.json", manifest)
    log.info(
        "prepared %d images (%d frames of %d videos), skipped %d files, dropped %d frames",
        len(images), sum("time" in image for image in images), len(videos), len(skipped),
        len(dropped),
    )  # fmt: skip
    return manifest


def encode_dataset(base_dir: str | Path, dataset_dir: str | Path, out_path: str | Path) -> None:
    """VAE latent distributions (mean, std) of every dataset image, computed once per base model.

    torch and the model code are imported here, not at the top: preparing the dataset
    needs neither, and its job starts faster without them.
    """
    import torch
    from tqdm import tqdm

    from stylesweep.base import load_components

    components = load_components(base_dir)
    manifest = read_json(Path(dataset_dir) / "manifest.json")
    latents: dict[str, list[torch.Tensor]] = {
        "mean": [],
        "std": [],
        "mean_flip": [],
        "std_flip": [],
    }
    for entry in tqdm(manifest["images"], desc="encoding dataset", unit="img"):
        with Image.open(Path(dataset_dir) / entry["file"]) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        pixels = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        for suffix, view in (("", pixels), ("_flip", pixels.flip(-1))):
            with torch.no_grad():
                dist = components.vae.encode(view).latent_dist
            latents["mean" + suffix].append(dist.mean[0])
            latents["std" + suffix].append(dist.std[0])
    write_safetensors(
        out_path,
        {name: torch.stack(values).contiguous() for name, values in latents.items()},
        metadata={"images": json.dumps(manifest["images"])},
    )
