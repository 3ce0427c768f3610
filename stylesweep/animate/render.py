"""Render a Deforum-style 2D animation with the sweep's models, frame by frame, resumably.

A diffused frame is the previous diffused frame warped on through every frame's motion
(zoom, rotation, translation), its colours matched to the first frame, its contrast changed
and noise added, then img2img with the model, prompt and settings of its frame: the grids'
own loop (GridRenderer), so the same scheduler, emphasis and seeds as the grids. With a
cadence of N, every N-th frame is diffused and a frame between is the previous diffused
frame, warped on, blended into the next.

A restyled video (video_init) starts each frame from its clip's frame: the previous frame,
carried along by the clip's optical flow (hybrid_motion: optical_flow) and moved, is blended
with the clip's frame by hybrid_comp_alpha before img2img. A soundtrack's loudness, onsets
and beats are schedule variables, and the track plays in the MP4. `interpolate` adds
in-between frames by optical flow when the video is written (they are not diffused).

Every frame is a PNG carrying its recipe. The only state carried from frame to frame is
those PNGs' pixels, so a killed animation resumes where it stopped, and a longer one renders
only the new frames, with the same bytes as an uninterrupted render.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo
from tqdm import tqdm

from stylesweep.animate.audio import AudioError, Soundtrack, audio_features, read_soundtrack
from stylesweep.animate.flow import carry, interpolate
from stylesweep.animate.frames import (
    add_noise,
    apply_contrast,
    blend,
    match_colours,
    unwarp,
    warp,
)
from stylesweep.animate.plan import (
    MOTION,
    AnimationError,
    animation_length,
    deforum_strength,
    models_used,
    plan_animation,
)
from stylesweep.animate.source import SourceError, clip_frames
from stylesweep.checkpoints import read_manifest
from stylesweep.files import atomic_path, sha256_file, write_json
from stylesweep.sample import GridRenderer, Recipe, sampler_settings, weights_hash_of
from stylesweep.settings import AnimationSettings
from stylesweep.versions import package_versions
from stylesweep.video import write_gif, write_mp4

log = logging.getLogger(__name__)

FRAMES = "frames"
RECIPE = "stylesweep"  # the PNG text chunk holding a frame's recipe


def frame_path(out_dir: Path, frame: int) -> Path:
    return out_dir / FRAMES / f"{frame:05d}.png"


def saved_recipe(path: Path) -> dict | None:
    """The recipe a frame PNG was saved with, or None (missing, unreadable, foreign)."""
    try:
        with Image.open(path) as image:
            return json.loads(image.text[RECIPE])
    except (OSError, KeyError, ValueError, AttributeError):
        return None


def frames_done(out_dir: Path, plan: list[dict]) -> int:
    """How many frames from the start are on disk with the plan's recipe."""
    for frame, recipe in enumerate(plan):
        if saved_recipe(frame_path(out_dir, frame)) != recipe:
            return frame
    return len(plan)


def save_frame(pixels: np.ndarray, out_dir: Path, recipe: dict) -> None:
    info = PngInfo()
    info.add_text(RECIPE, json.dumps(recipe, sort_keys=True))
    with atomic_path(frame_path(out_dir, recipe["frame"])) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG", pnginfo=info)


def load_frame(out_dir: Path, frame: int) -> np.ndarray:
    with Image.open(frame_path(out_dir, frame)) as image:
        return np.asarray(image.convert("RGB"))


def load_init_image(path: str | Path, size: int) -> np.ndarray:
    """The init image cropped to a square at its centre and resized, as the stills are."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        return np.asarray(ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS))


def to_pixels(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 to the VAE's 1x3xHxW in [-1, 1]."""
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0


class ModelSwitcher:
    """The renderer of the model a frame uses, at the frame's strength. A switch of model
    loads the base afresh and puts the checkpoint on it, so a frame's pixels never depend on
    which model came before; a switch of strength loads the checkpoint again at the new one
    (every part it changes is rewritten: stylesweep.strength)."""

    def __init__(self, base_dir: str | Path, checkpoints: dict[str, str | None], device: str):
        self.base_dir, self.checkpoints, self.device = base_dir, checkpoints, device
        self.model: str | None = None
        self.strength = 1.0
        self.renderer: GridRenderer | None = None

    def get(self, model: str, strength: float = 1.0) -> GridRenderer:
        checkpoint = self.checkpoints[model]
        if checkpoint is None:
            strength = 1.0  # the base model has no strength
        fresh = model != self.model or (
            strength != self.strength
            and self.renderer.base_weights is None
            and read_manifest(checkpoint).get("method") == "dreambooth"
        )
        if fresh:  # a DreamBooth checkpoint at a strength other than 1 blends with the base
            blends = strength != 1 and read_manifest(checkpoint).get("method") == "dreambooth"
            self.renderer = GridRenderer(self.base_dir, self.device, keep_base=blends)
        if checkpoint is not None and (fresh or strength != self.strength):
            self.renderer.use_checkpoint(checkpoint, strength)
        self.model, self.strength = model, strength
        return self.renderer


def render_animation(
    *,
    name: str,
    settings: AnimationSettings,
    models: dict[str, dict],
    base_dir: str | Path,
    base_hash: str,
    text: dict,
    out_dir: str | Path,
    init_image: str | Path | None = None,
    video: str | Path | None = None,
    soundtrack: str | Path | None = None,
    version: int = 1,
    device: str = "cpu",
) -> dict:
    """Render (or reuse) every frame of one animation, then write its MP4, GIF preview and
    settings.json into out_dir; return the settings written.

    `models` maps each model of the sweep to {"checkpoint": its folder (None for the base),
    "key": its trigger key}; `text` holds sample:'s clip_skip, emphasis, wrap_length and pad_conds.
    `video` and `soundtrack` are the files its video_init and soundtrack name.
    """
    out_dir = Path(out_dir)
    sampler_settings(settings["sampler"])  # a wrong name fails before any model loads
    size, fps = settings["size"], settings["fps"]
    where = f"animate.animations.{name}"
    # The clip and the track are read before any frame is rendered, so a file that cannot
    # be read stops the job naming it, with every frame on disk kept.
    sources, decoded, track = read_media(where, settings, video, soundtrack)
    init_image = None if sources else init_image  # the clip's first frame is the start
    max_frames = animation_length(settings, len(sources) if sources else None)
    audio = audio_features(track, fps, max_frames) if track else None
    if track and track.duration < max_frames / fps - 1e-3:
        log.warning(
            "%s.soundtrack: %s lasts %.2f s, the animation %.2f s: the audio ends early",
            where, soundtrack, track.duration, max_frames / fps,
        )  # fmt: skip
    used = set(models_used(settings, where))
    # only the models the animation uses are hashed (the hash checks their files' sizes)
    models = {
        model: {
            **entry,
            "hash": weights_hash_of(entry["checkpoint"], base_hash) if model in used else "",
        }
        for model, entry in models.items()
    }
    common = {
        "size": size,
        "text": text,
        "init": sha256_file(init_image) if init_image else None,
        "version": version,
    }
    if video:  # only then: the frames of animations without one keep their recipes
        common["video"] = sha256_file(video)
    plan = plan_animation(name, settings, models, common, max_frames, audio)
    done = frames_done(out_dir, plan)
    diffused = [recipe["frame"] for recipe in plan if recipe["kind"] == "diffused"]
    # resume from the last diffused frame on disk: what follows it is made from it
    resume = max((frame for frame in diffused if frame < done), default=None)
    log.info("%s: %d of %d frames on disk, rendering from frame %s",
             name, done, len(plan), 0 if resume is None else resume + 1)  # fmt: skip

    checkpoints = {model: entry["checkpoint"] for model, entry in models.items()}
    switcher = ModelSwitcher(base_dir, checkpoints, device)
    started, rendered = time.perf_counter(), 0
    progress = tqdm(total=len(plan), initial=0 if resume is None else resume + 1, unit="frame",
                    desc=f"animating {name}")  # fmt: skip
    previous = load_frame(out_dir, resume) if resume is not None else None
    reference = load_frame(out_dir, 0) if resume is not None else None
    for index, frame in enumerate(diffused):
        if resume is not None and frame <= resume:
            continue
        recipe = plan[frame]
        if previous is None:
            start = load_init_image(init_image, size) if init_image else None
            start = sources[0] if sources else start
            warped = []
        else:
            steps = plan[diffused[index - 1] + 1 : frame + 1]
            warped = moved_on(previous, steps, settings, sources)
            start, colours = warped[-1], reference
            if sources:  # the clip's frame blended in, and its colours followed (past a cut too)
                start = blend(start, sources[frame], recipe["hybrid_comp_alpha"])
                colours = sources[frame]
            start = img2img_start(start, colours, recipe, settings["colour_match"])
        renderer = switcher.get(recipe["model"], recipe.get("style_strength", 1.0))
        image = diffuse(renderer, recipe, name, size, text, start)
        save_frame(image, out_dir, recipe)
        rendered += 1
        # the frames between the last diffused one and this one: the last one moved on,
        # blended into this one moved back, both where the camera is at that frame
        between = plan[frame - len(warped) + 1 : frame]
        for offset, (recipe_between, moving) in enumerate(zip(between, warped, strict=False)):
            following = moved_back(image, [*between[offset + 1 :], recipe], settings, sources)
            save_frame(blend(moving, following, recipe_between["weight"]), out_dir, recipe_between)
        progress.update(len(warped) or 1)
        previous = image
        if reference is None:
            reference = image
    progress.close()
    seconds = time.perf_counter() - started

    # With interpolation the video has `interpolate` frames between each two, and as many
    # times the frame rate, so it lasts as long.
    between = settings["interpolate"]
    out_fps = fps * (between + 1)

    def frames_out():
        return interpolate((load_frame(out_dir, frame) for frame in range(len(plan))), between)

    write_mp4(
        frames_out(),
        out_dir / "animation.mp4",
        out_fps,
        audio=(track.samples, track.rate) if track else None,
    )
    write_gif((Image.fromarray(f) for f in frames_out()), out_dir / "preview.gif", out_fps)
    summary = {
        "name": name,
        "settings": settings,
        "text": text,
        "model_hashes": {model: models[model]["hash"] for model in sorted(used)},
        "base_hash": base_hash,
        "frames": len(plan),
        "video_frames": (len(plan) - 1) * (between + 1) + 1,
        "video_fps": out_fps,
        "diffused": len(diffused),
        "rendered": rendered,
        "reused": len(diffused) - rendered,
        "seconds": round(seconds, 3),
        "diffused_per_second": round(rendered / seconds, 3) if rendered else None,
        "device": device,
        "versions": package_versions(),
        "recipes": plan,
    }
    if sources:
        summary["clip"] = {"file": str(video), "sha256": common["video"], "decoded": decoded}
    if track:
        summary["soundtrack"] = {
            "file": str(soundtrack),
            "seconds": round(track.duration, 3),
            "features": {
                key: [round(float(v), 4) for v in values] for key, values in audio.items()
            },
        }
    write_json(out_dir / "settings.json", summary)
    return summary


def read_media(
    where: str, settings: AnimationSettings, video: str | Path | None, soundtrack: str | Path | None
) -> tuple[list[np.ndarray] | None, int, Soundtrack | None]:
    """The source clip's frame for each animation frame (None without a clip) and how many
    frames the clip has, and the soundtrack (None without one); a file that cannot be read
    raises AnimationError naming the key, the file and the reason."""
    sources, decoded, track = None, 0, None
    try:
        if video:
            sources, decoded = clip_frames(
                video, settings["fps"], settings["extract_nth_frame"], settings["size"],
                settings["max_frames"],
            )  # fmt: skip
    except SourceError as error:
        raise AnimationError(f"{where}.video_init: {error}") from None
    try:
        track = read_soundtrack(soundtrack) if soundtrack else None
    except AudioError as error:
        raise AnimationError(f"{where}.soundtrack: {error}") from None
    return sources, decoded, track


def follows_flow(settings: AnimationSettings, sources: list[np.ndarray] | None) -> bool:
    return sources is not None and settings["hybrid_motion"] == "optical_flow"


def moved_on(
    image: np.ndarray,
    frames: list[dict],
    settings: AnimationSettings,
    sources: list[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """`image` moved by each frame's motion in turn (first carried along the source clip's
    optical flow to that frame, with hybrid_motion): where it is at each of `frames`."""
    moved = []
    for recipe in frames:
        if follows_flow(settings, sources):
            image = carry(image, sources[recipe["frame"] - 1], sources[recipe["frame"]])
        image = warp(image, *(recipe[key] for key in MOTION), settings["border"])
        moved.append(image)
    return moved


def moved_back(
    image: np.ndarray,
    frames: list[dict],
    settings: AnimationSettings,
    sources: list[np.ndarray] | None = None,
) -> np.ndarray:
    """`image` moved back through `frames` (the frames after the one it is wanted at, up to
    its own, in order): each frame's motion undone, then the clip's flow to the frame before."""
    if not follows_flow(settings, sources):  # one resampling for all the motions
        return unwarp(image, [tuple(r[key] for key in MOTION) for r in frames], settings["border"])
    for recipe in reversed(frames):
        image = unwarp(image, [tuple(recipe[key] for key in MOTION)], settings["border"])
        image = carry(image, sources[recipe["frame"]], sources[recipe["frame"] - 1])
    return image


def img2img_start(
    warped: np.ndarray, reference: np.ndarray, recipe: dict, colour_match: str
) -> np.ndarray:
    """What img2img redraws: the warped frame, its colours matched to the first frame's,
    its contrast changed, and noise from the frame's seed added, as Deforum does."""
    if colour_match != "off":
        warped = match_colours(warped, reference, colour_match)
    warped = apply_contrast(warped, recipe["contrast"])
    return add_noise(warped, recipe["noise"], recipe["seed"])


def diffuse(
    renderer: GridRenderer,
    recipe: dict,
    name: str,
    size: int,
    text: dict,
    start: np.ndarray | None,
) -> np.ndarray:
    """One frame through the model: txt2img without a start image, else img2img."""
    job = Recipe(
        model=recipe["model"],
        model_hash=recipe["model_hash"],
        variant=name,
        prompt=recipe["prompt"],
        negative=recipe["negative"],
        seed=recipe["seed"],
        cfg_scale=recipe["cfg_scale"],
        sampler=recipe["sampler"],
        steps=recipe["steps"],
        width=size,
        height=size,
        **text,
    )
    if start is None:
        (image,) = renderer.denoise([job])
    else:
        strength = deforum_strength(recipe["strength"])
        (image,) = renderer.denoise([job], init=to_pixels(start), strength=strength)
    return np.asarray(image.convert("RGB"))
