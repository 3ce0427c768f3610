"""DreamBooth-style fine-tuning, one segment (between two checkpoint steps) at a time.

Every step draws its batch, noise and timesteps from a generator seeded by (seed, step),
and the optimizer state is saved with each checkpoint, so a run trained in segments ends
exactly where the same run trained in one go would (on CPU). The text encoder trains for
the first `text_encoder_steps` steps, then freezes; every later checkpoint carries that
frozen encoder.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from stylesweep.base import load_components, model_hash
from stylesweep.checkpoints import apply_checkpoint, save_checkpoint
from stylesweep.files import atomic_path, read_json, write_text
from stylesweep.versions import package_versions

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on; the message says which setting to change."""


@dataclass(frozen=True)
class TrainSettings:
    key: str
    instance_prompt: str
    max_steps: int
    text_encoder_steps: int
    learning_rate: float
    batch_size: int
    seed: int

    @property
    def prompt(self) -> str:
        return self.instance_prompt.format(key=self.key)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random source of one training step, independent of how the run was segmented."""
    return torch.Generator("cpu").manual_seed(seed * 1_000_003 + step)


@torch.no_grad()
def encode_dataset(base_dir: str | Path, dataset_dir: str | Path, out_path: str | Path) -> None:
    """VAE latent distributions (mean, std) of every dataset image, computed once per base model."""
    import numpy as np
    from PIL import Image

    components = load_components(base_dir)
    manifest = read_json(Path(dataset_dir) / "manifest.json")
    means, stds = [], []
    for entry in tqdm(manifest["images"], desc="encoding dataset", unit="img"):
        with Image.open(Path(dataset_dir) / entry["file"]) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        dist = components.vae.encode(torch.from_numpy(pixels).permute(2, 0, 1)[None]).latent_dist
        means.append(dist.mean[0])
        stds.append(dist.std[0])
    with atomic_path(out_path) as tmp:
        save_file(
            {"mean": torch.stack(means).contiguous(), "std": torch.stack(stds).contiguous()},
            str(tmp),
            metadata={"files": ",".join(e["file"] for e in manifest["images"])},
        )


def train_segment(
    *,
    base_dir: str | Path,
    latents_path: str | Path,
    settings: TrainSettings,
    start_step: int,
    end_step: int,
    previous_checkpoint: str | Path | None,
    previous_state: str | Path | None,
    checkpoint_dir: str | Path,
    state_path: str | Path,
    loss_path: str | Path,
    run_name: str,
    device: str = "cpu",
) -> list[float]:
    """Train steps start_step+1 .. end_step and save the checkpoint and resume state."""
    if end_step <= start_step:
        raise TrainingError(f"segment {start_step}..{end_step} is empty")
    torch.use_deterministic_algorithms(True, warn_only=True)
    components = load_components(base_dir)
    if previous_checkpoint is not None:
        apply_checkpoint(components, previous_checkpoint)
    unet, text_encoder = components.unet.to(device), components.text_encoder.to(device)
    scheduler = components.noise_scheduler

    latents = load_file(str(latents_path))
    mean, std = latents["mean"], latents["std"]
    scaling = components.vae.config.scaling_factor
    del components.vae

    optimizer = torch.optim.AdamW(
        [{"params": list(unet.parameters())}, {"params": list(text_encoder.parameters())}],
        lr=settings.learning_rate,
        weight_decay=1e-2,
    )
    if previous_state is not None:
        optimizer.load_state_dict(torch.load(previous_state, weights_only=True))

    input_ids = components.tokenizer(
        settings.prompt, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    ).input_ids.to(device)
    frozen_embedding = None
    unet.train()
    losses = []
    for step in tqdm(range(start_step + 1, end_step + 1), desc=f"{run_name} steps", unit="step"):
        generator = step_generator(settings.seed, step)
        index = torch.randint(len(mean), (settings.batch_size,), generator=generator)
        sample = mean[index] + std[index] * torch.randn(mean[index].shape, generator=generator)
        clean = (sample * scaling).to(device)
        noise = torch.randn(clean.shape, generator=generator).to(device)
        timesteps = torch.randint(
            0, scheduler.config.num_train_timesteps, (settings.batch_size,), generator=generator
        ).to(device)
        noisy = scheduler.add_noise(clean, noise, timesteps)

        if step <= settings.text_encoder_steps:
            text_encoder.train().requires_grad_(True)
            embedding = text_encoder(input_ids)[0]
        else:
            text_encoder.eval().requires_grad_(False)
            if frozen_embedding is None:  # the encoder no longer changes: encode once
                with torch.no_grad():
                    frozen_embedding = text_encoder(input_ids)[0]
            embedding = frozen_embedding
        prediction = unet(noisy, timesteps, embedding.expand(settings.batch_size, -1, -1)).sample
        if scheduler.config.prediction_type == "v_prediction":
            target = scheduler.get_velocity(clean, noise, timesteps)
        else:
            target = noise
        loss = F.mse_loss(prediction.float(), target.float())
        if not math.isfinite(loss.item()):
            raise TrainingError(
                f"{run_name}: loss became {loss.item()} at step {step}; the last good checkpoint "
                f"is kept. Lower train.learning_rate (now {settings.learning_rate:g}) and rerun"
            )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())

    manifest = {
        "run": run_name,
        "step": end_step,
        "method": "dreambooth",
        "base_model": str(base_dir),
        "base_model_hash": model_hash(base_dir),
        "settings": asdict(settings),
        "text_encoder_trained_until": min(end_step, settings.text_encoder_steps),
        "versions": package_versions(),
    }
    save_checkpoint(components, checkpoint_dir, manifest)
    with atomic_path(state_path) as tmp:
        torch.save(optimizer.state_dict(), tmp)
    rows = "step,loss\n" + "".join(
        f"{start_step + 1 + i},{value!r}\n" for i, value in enumerate(losses)
    )
    write_text(loss_path, rows)
    return losses
