"""Sampling benchmark: a grid rendered by stylesweep against stock diffusers, one image per call.

X/Y/Z-plot style tools call StableDiffusionPipeline once per image; stylesweep's GridRenderer
batches seeds, CFG scales and prompts into few UNet calls. Both render the same grid (16 seeds
x 2 CFG scales, 25 steps, Euler a) with the same model, on the same machine, in this process.

    python bench/bench_sampling.py                       # tiny model, CPU
    python bench/bench_sampling.py --model sd15 --device cuda --size 512 --batch 16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from stylesweep.base import build_sd15_sized_model, build_tiny_model
from stylesweep.sample import GridRenderer, Recipe, make_scheduler

PROMPT = "vsynth, a portrait of an astronaut, studio light"


def grid(seeds: int, cfgs: list[float], steps: int, size: int, tag: str) -> list[Recipe]:
    return [
        Recipe(
            model=tag,
            model_hash=tag,
            variant="bench",
            prompt=PROMPT,
            negative="",
            seed=seed,
            cfg_scale=cfg,
            sampler="Euler a",
            steps=steps,
            width=size,
            height=size,
            clip_skip=1,
        )  # fmt: skip
        for seed in range(seeds)
        for cfg in cfgs
    ]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_gib(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")


def time_stock(folder: Path, recipes: list[Recipe], device: str, dtype) -> tuple[float, float]:
    """Seconds and peak memory of stock diffusers rendering the recipes one call each."""
    stock = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=dtype).to(device)
    stock.scheduler = make_scheduler("Euler a", stock.scheduler.config)
    stock.set_progress_bar_config(disable=True)

    def render_one(r: Recipe):
        generator = torch.Generator().manual_seed(r.seed)
        return stock(PROMPT, guidance_scale=r.cfg_scale, num_inference_steps=r.steps,
                     width=r.width, height=r.height, generator=generator).images[0]  # fmt: skip

    render_one(recipes[0])  # warm-up
    sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for r in recipes:
        render_one(r)
    sync(device)
    return time.perf_counter() - start, peak_memory_gib(device)


def time_ours(
    folder: Path, recipes: list[Recipe], device: str, batch: int, tmp: Path
) -> tuple[float, float, int]:
    """Seconds, peak memory and UNet calls of GridRenderer rendering the recipes into tmp."""
    renderer = GridRenderer(folder, device)
    steps, size = recipes[0].steps, recipes[0].width
    renderer.render(grid(1, [5.0], steps, size, "warm"), tmp / "warm")  # warm-up
    sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    calls = renderer.unet_calls
    start = time.perf_counter()
    renderer.render(recipes, tmp / "ours", batch_size=batch)
    sync(device)
    return time.perf_counter() - start, peak_memory_gib(device), renderer.unet_calls - calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "sd15"], default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32, help="images per UNet call (stylesweep)")
    args = parser.parse_args()
    cfgs = [3.0, 7.0]
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        (build_tiny_model if args.model == "tiny" else build_sd15_sized_model)(folder)

        recipes = grid(args.seeds, cfgs, args.steps, args.size, "stock")
        stock_seconds, stock_memory = time_stock(folder, recipes, args.device, dtype)

        ours = grid(args.seeds, cfgs, args.steps, args.size, "ours")
        ours_seconds, ours_memory, unet_calls = time_ours(
            folder, ours, args.device, args.batch, Path(tmp)
        )

    images = len(recipes)
    print(f"grid: {args.seeds} seeds x {len(cfgs)} CFG scales = {images} images, "
          f"{args.steps} steps, {args.size} px, {args.model} model on {args.device} "
          f"({torch.get_num_threads()} threads)")  # fmt: skip
    print(f"stock diffusers, one image per call: {images / stock_seconds:8.2f} images/s  "
          f"({images * args.steps} UNet calls, peak {stock_memory:.1f} GiB)")  # fmt: skip
    print(f"stylesweep GridRenderer, batch {args.batch}:  {images / ours_seconds:8.2f} images/s  "
          f"({unet_calls} UNet calls, peak {ours_memory:.1f} GiB)")  # fmt: skip
    print(f"ratio: {stock_seconds / ours_seconds:.2f}x")


if __name__ == "__main__":
    main()
