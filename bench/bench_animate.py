"""Animation benchmark: stylesweep's render_animation against a diffusers img2img loop.

Both render the same Deforum-style animation from the same init image: every frame is the
previous one warped (zoom 1.04, 2 degrees), its colours matched to the first frame (lab),
contrast and noise (the schema's defaults), then img2img at Deforum's strength 0.65
(diffusers' 0.35: 0.35 of 25 steps run), CFG 7, Euler a, cadence 1, seed + frame. The
baseline is what a user writes with diffusers alone: StableDiffusionImg2ImgPipeline loaded
once, one call per frame with the same frames.py operations between, each frame saved as a
PNG with PIL. Both sides are timed from the model's load to the last file: ours is the whole
render_animation call (frames, MP4 and GIF), the baseline loads the pipeline and writes the
PNGs (no video). Diffused frames/s; the frames-only rate from render_animation's own
`seconds` is printed too. Here both run in this process, the baseline first (it pays the
process's first calls); bench/run.py --rows animation runs each in a fresh process.

    python bench/bench_animate.py                       # tiny model, CPU, 12 frames at 64 px
    python bench/bench_animate.py --model sd15 --device cuda --size 512 --frames 24
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionImg2ImgPipeline
from PIL import Image

from stylesweep.animate.frames import add_noise, apply_contrast, match_colours, warp
from stylesweep.animate.plan import TEXT_KEYS, deforum_strength
from stylesweep.animate.render import render_animation
from stylesweep.base import build_sd15_sized_model, build_tiny_model
from stylesweep.demo import write_demo_stills
from stylesweep.sample import make_scheduler

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"
KEY = "vsynth"
PROMPT = "{key}, an abstract pattern"
MOTION = {"zoom": 1.04, "angle": 2.0, "translation_x": 0.0, "translation_y": 0.0}
STRENGTH, CFG = 0.65, 7.0  # Deforum's strength: the share of the previous frame kept
NOISE, CONTRAST, SEED = 0.02, 1.0, 1  # the schema's defaults
BORDER, COLOUR_MATCH, SAMPLER = "replicate", "lab", "Euler a"
CLIP_FPS = 8  # the restyled clip's, and its animation's: one frame of it a frame


def settings_for(frames: int, size: int, steps: int) -> tuple[dict, dict]:
    """The animation's settings and the sample: text settings, completed from the schema's
    defaults as the workflow completes them."""
    from snakemake.utils import validate

    animation = {"models": "base", "prompts": PROMPT, "max_frames": frames, "size": size,
                 "steps": steps, "cfg_scale": CFG, "strength": STRENGTH, "noise": NOISE,
                 "contrast": CONTRAST, "seed": SEED, "seed_behavior": "iter", "border": BORDER,
                 "colour_match": COLOUR_MATCH, "sampler": SAMPLER, "cadence": 1, "negative": "",
                 **MOTION}  # fmt: skip
    config = {"train": {"key": KEY}, "animate": {"animations": {"bench": animation}}}
    validate(config, str(SCHEMA), set_default=True)
    text = {key: config["sample"][key] for key in TEXT_KEYS}
    return config["animate"]["animations"]["bench"], text


def write_init(path: Path, size: int) -> Path:
    """The first frame's init image: a demo still at the animation's size."""
    (still,) = write_demo_stills(path.parent / "init-still", count=1, size=size)
    still.replace(path)
    return path


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def warm_device(device: str) -> None:
    """Start the device (CUDA context, cuBLAS) outside the timings: neither side pays it."""
    x = torch.ones(64, 64, device=device)
    (x @ x).sum().item()
    torch.nn.functional.conv2d(x[None, None], torch.ones(1, 1, 3, 3, device=device)).sum().item()
    sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def restyle_settings(frames: int, size: int, steps: int, flow: bool) -> tuple[dict, dict]:
    """The animation above restyling a clip, its start each frame half the clip's frame;
    with `flow`, the last frame carried along the clip's optical flow and one frame
    interpolated between every two (what bench/run.py's restyle row measures)."""
    settings, text = settings_for(frames, size, steps)
    settings.update(
        video_init="clip.mp4", hybrid_comp_alpha="0: (0.5)", fps=CLIP_FPS,
        hybrid_motion="optical_flow" if flow else "none", interpolate=1 if flow else 0,
    )  # fmt: skip
    return settings, text


def write_clip(path: Path, frames: int, size: int) -> Path:
    """The restyled clip: the demo's moving patterns, `frames` frames at CLIP_FPS, square."""
    from stylesweep.demo import write_demo_clip

    return write_demo_clip(path, seconds=frames / CLIP_FPS, fps=CLIP_FPS, width=size, height=size)


def time_ours(
    folder: Path,
    init: Path | None,
    settings: dict,
    text: dict,
    device: str,
    out: Path,
    video: Path | None = None,
) -> tuple[float, dict]:
    """Seconds of the whole render_animation call into a fresh `out`, and its summary."""
    sync(device)
    start = time.perf_counter()
    summary = render_animation(
        name="bench", settings=settings, models={"base": {"checkpoint": None, "key": KEY}},
        base_dir=folder, base_hash="bench", text=text, out_dir=out, init_image=init,
        video=video, device=device,
    )  # fmt: skip
    sync(device)
    return time.perf_counter() - start, summary


def stock_frames(
    folder: Path, init: Path, frames: int, steps: int, device: str, out: Path
) -> tuple[float, float]:
    """Seconds of the diffusers-only loop, pipeline load included, and of the load alone; its
    PNGs in `out`. The same frame operations as render_animation, in its order, and one
    pipeline call a frame."""
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    prompt = PROMPT.format(key=KEY)
    out.mkdir(parents=True, exist_ok=True)
    with Image.open(init) as image:  # already the animation's size
        first = np.asarray(image.convert("RGB"))
    sync(device)
    start = time.perf_counter()
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
        folder, dtype=dtype, safety_checker=None
    ).to(device)
    pipe.scheduler = make_scheduler(SAMPLER, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    sync(device)
    loaded = time.perf_counter() - start
    previous = reference = None
    for frame in range(frames):
        if previous is None:
            begin = first
        else:
            begin = warp(previous, *MOTION.values(), BORDER)
            begin = match_colours(begin, reference, COLOUR_MATCH)
            begin = apply_contrast(begin, CONTRAST)
            begin = add_noise(begin, NOISE, SEED + frame)
        image = pipe(
            prompt=prompt, image=Image.fromarray(begin), strength=deforum_strength(STRENGTH),
            guidance_scale=CFG, num_inference_steps=steps,
            generator=torch.Generator().manual_seed(SEED + frame),
        ).images[0]  # fmt: skip
        image.save(out / f"{frame:05d}.png")
        previous = np.asarray(image.convert("RGB"))
        reference = previous if reference is None else reference
    sync(device)
    return time.perf_counter() - start, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "sd15"], default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings, text = settings_for(args.frames, args.size, args.steps)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = (build_tiny_model if args.model == "tiny" else build_sd15_sized_model)(tmp / "m")
        init = write_init(tmp / "init.png", args.size)
        warm_device(args.device)
        frames = args.frames
        stock_seconds, load = stock_frames(
            folder, init, frames, args.steps, args.device, tmp / "stock"
        )
        ours_seconds, summary = time_ours(folder, init, settings, text, args.device, tmp / "ours")

    rendered = summary["rendered"]
    strength = deforum_strength(STRENGTH)
    print(f"animation: {frames} frames, {args.steps} steps at strength {strength:.2f}, "
          f"CFG {CFG:g}, {args.size} px, {args.model} model on {args.device} "
          f"({torch.get_num_threads()} threads)")  # fmt: skip
    print(f"diffusers img2img loop (load + frames + PNGs): {frames / stock_seconds:8.3f} frames/s"
          f"  (its load: {load:.2f} s)")  # fmt: skip
    print(f"stylesweep render_animation (whole call):       {rendered / ours_seconds:8.3f} frames/s"
          f"  (frames only: {rendered / summary['seconds']:.3f})")  # fmt: skip
    print(f"ratio: {stock_seconds / frames * rendered / ours_seconds:.2f}x")


if __name__ == "__main__":
    main()
