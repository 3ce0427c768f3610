"""Training benchmark: stylesweep's DreamBooth segment against a plain diffusers loop.

The plain loop is what the diffusers DreamBooth example does per step: encode the images
with the VAE, encode the caption with the text encoder, then the UNet forward and backward
and an AdamW step; nothing cached. stylesweep encodes the dataset once (its own job, not
timed here, as in the workflow) and reuses the frozen encoder's output. Both train the
UNet, and the text encoder for the first 10 % of the steps, on the same images. Steps/s is
the marginal rate: (N - 1) / (time of N steps - time of 1 step), so loading and saving cancel.

    python bench/bench_training.py                          # tiny model, CPU
    python bench/bench_training.py --model sd15 --device cuda --size 512 --steps 60
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stylesweep.base import build_sd15_sized_model, build_tiny_model, load_components
from stylesweep.dataset import encode_dataset, prepare_dataset
from stylesweep.demo import write_demo_stills
from stylesweep.settings import TrainSettings
from stylesweep.train import MIXED_PRECISION, train_segment


def plain_loop(
    folder: Path,
    dataset: Path,
    steps: int,
    te_steps: int,
    device: str,
    mixed_precision: str = "no",
) -> float:
    """Seconds for `steps` steps of an uncached diffusers-style loop (autocast to bf16 or fp16
    with `mixed_precision`, as accelerate does; fp16 without a grad scaler: timing only)."""
    c = load_components(folder, device)
    images = [
        torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 127.5 - 1)
        .permute(2, 0, 1)[None].to(device)
        for p in sorted(dataset.glob("*.png"))
    ]  # fmt: skip
    ids = c.tokenizer("vsynth", padding="max_length", max_length=77, return_tensors="pt")
    ids = ids.input_ids.to(device)
    optimizer = torch.optim.AdamW(
        list(c.unet.parameters()) + list(c.text_encoder.parameters()), lr=1e-6
    )
    c.unet.train()
    generator = torch.Generator().manual_seed(0)
    amp_dtype = MIXED_PRECISION[mixed_precision]
    device_type = torch.device(device).type
    start = time.perf_counter()
    for step in range(1, steps + 1):
        pixels = images[int(torch.randint(len(images), (1,), generator=generator))]
        with torch.no_grad():
            latents = c.vae.encode(pixels).latent_dist.sample() * c.vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator).to(device)
        t = torch.randint(0, 1000, (1,), generator=generator).to(device)
        noisy = c.noise_scheduler.add_noise(latents, noise, t)
        c.text_encoder.requires_grad_(step <= te_steps)
        with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
            embedding = c.text_encoder(ids)[0]
            loss = F.mse_loss(c.unet(noisy, t, embedding).sample.float(), noise.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def ours(
    folder: Path,
    latents: Path,
    steps: int,
    te_steps: int,
    device: str,
    tmp: Path,
    mixed_precision: str = "no",
) -> float:
    settings = TrainSettings(
        method="dreambooth", key="vsynth", instance_prompt="{key}", learning_rate=1e-6,
        batch_size=1, seed=0, lr_schedule="constant", lr_warmup_steps=0, lr_horizon=None,
        noise_offset=0.0, snr_gamma=None, random_flip=False, captions="instance",
        gradient_accumulation_steps=1, gradient_checkpointing=False, optimizer="adamw",
        mixed_precision=mixed_precision, prior_loss_weight=0.0, text_encoder_steps=te_steps,
    )  # fmt: skip
    out = tmp / f"ours-{steps}"
    start = time.perf_counter()
    train_segment(
        base_dir=folder, base_hash="bench", latents_path=latents, settings=settings,
        start_step=0, end_step=steps,
        previous_checkpoint=None, previous_state=None, checkpoint_dir=out / "ckpt",
        state_path=out / "state.pt", loss_path=out / "loss.csv", run_name="bench", device=device,
    )  # fmt: skip
    return time.perf_counter() - start


def prepare(folder: Path, tmp: Path, size: int) -> tuple[Path, Path]:
    """The training images of the benchmark, as both loops read them: (dataset, latents)."""
    write_demo_stills(tmp / "stills", count=8, size=size)
    prepare_dataset(tmp / "stills", tmp / "dataset", size, "center")
    encode_dataset(folder, tmp / "dataset", tmp / "latents.safetensors")
    return tmp / "dataset", tmp / "latents.safetensors"


def marginal(run, steps: int, device: str) -> tuple[float, float]:
    """Steps/s of `run(n)` (seconds for n steps) over `steps` steps, with 1 step's time taken
    off; and peak GPU memory in GiB (nan on CPU)."""
    cuda = device.startswith("cuda")
    run(1)  # warm-up
    one = run(1)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    many = run(steps)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    return (steps - 1) / (many - one), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "sd15"], default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--mixed-precision", choices=list(MIXED_PRECISION), default="no")
    args = parser.parse_args()
    precision = args.mixed_precision
    te_steps = args.steps // 10

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = (build_tiny_model if args.model == "tiny" else build_sd15_sized_model)(tmp / "m")
        dataset, latents = prepare(folder, tmp, args.size)
        plain, plain_peak = marginal(
            lambda n: plain_loop(folder, dataset, n, te_steps, args.device, precision),
            args.steps,
            args.device,
        )
        mine, my_peak = marginal(
            lambda n: ours(folder, latents, n, te_steps, args.device, tmp, precision),
            args.steps,
            args.device,
        )
    print(f"DreamBooth, batch 1, {args.size} px, {args.model} model on {args.device}, "
          f"{args.steps} steps, text encoder trained for the first {te_steps}, "
          f"mixed precision {precision}")  # fmt: skip
    print(f"plain diffusers loop (no caching): {plain:8.2f} steps/s, peak {plain_peak:.1f} GiB")
    print(f"stylesweep train_segment:          {mine:8.2f} steps/s, peak {my_peak:.1f} GiB")
    print(f"ratio: {mine / plain:.2f}x")


if __name__ == "__main__":
    main()
