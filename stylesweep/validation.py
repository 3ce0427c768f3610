"""Validation loss: the denoising loss on stills held out of training, at fixed timesteps and
with fixed noise, the same for every model, so that checkpoints compare (what kohya
sd-scripts, OneTrainer, SimpleTuner and ai-toolkit added after years of requests).

Each held-out still's latent (the mean of its VAE encoding, no sampling) is noised at each of
TIMESTEPS with noise drawn once from NOISE_SEED, and the model predicts the noise (or the
velocity) under one prompt: the instance prompt with the key, as a learned key reads in the
grids. The loss is the mean squared error over stills and timesteps; each timestep's mean is
kept too, since the low timesteps (detail) and the high ones (composition) move differently.

One job measures every model; a model measured before with the same weights, stills, prompt
and timesteps is read back from its file under `results/validation/` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from stylesweep.dataset import training_images
from stylesweep.files import read_json, read_safetensors, write_json
from stylesweep.sample import GridRenderer, weights_hash_of

log = logging.getLogger(__name__)

TIMESTEPS = (100, 300, 500, 700, 900)  # across SD 1.5's 1000, composition to detail
NOISE_SEED = 0


def held_out(latents_path: str | Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The held-out images' latent means and file names, from the dataset's latents file."""
    latents, metadata = read_safetensors(latents_path)
    images = json.loads(metadata["images"])
    kept = set(training_images(images))
    rows = [i for i in range(len(images)) if i not in kept]
    return latents["mean"][rows], [images[i]["file"] for i in rows]


def fixed_noise(shape: tuple[int, ...], count: int) -> torch.Tensor:
    """`count` noise tensors of `shape`, the same on every call (CPU generator, then moved)."""
    generator = torch.Generator("cpu").manual_seed(NOISE_SEED)
    return torch.randn((count, *shape), generator=generator)


@torch.no_grad()
def denoising_loss(renderer: GridRenderer, means: torch.Tensor, prompt: str) -> dict:
    """The model's loss on the latents at every TIMESTEP, with the fixed noise."""
    components = renderer.components
    scheduler = components.noise_scheduler
    device, dtype = renderer.device, renderer.dtype
    clean = means.float() * components.vae.config.scaling_factor
    count = len(clean)
    noise = fixed_noise(tuple(clean.shape[1:]), count * len(TIMESTEPS))
    clean = clean.repeat(len(TIMESTEPS), 1, 1, 1)
    timesteps = torch.tensor(TIMESTEPS).repeat_interleave(count)
    noisy = scheduler.add_noise(clean, noise, timesteps)
    if scheduler.config.prediction_type == "v_prediction":
        target = scheduler.get_velocity(clean, noise, timesteps)
    else:
        target = noise
    embedding = renderer.condition(prompt).expand(len(noisy), -1, -1)
    prediction = components.unet(
        noisy.to(device, dtype), timesteps.to(device), embedding.to(device, dtype)
    ).sample
    errors = F.mse_loss(prediction.float().cpu(), target, reduction="none").mean(dim=(1, 2, 3))
    per_timestep = errors.view(len(TIMESTEPS), count).mean(dim=1)
    return {
        "loss": float(errors.mean()),
        "per_timestep": {str(t): float(v) for t, v in zip(TIMESTEPS, per_timestep, strict=True)},
    }


def cache_file(cache_dir: Path, model: str) -> Path:
    return cache_dir / f"{model}.json"


def validate_models(
    *,
    models: dict[str, str | Path | None],
    base_dir: str | Path,
    base_hash: str,
    latents_path: str | Path,
    prompt: str,
    out_path: str | Path,
    device: str = "cpu",
) -> dict:
    """The validation loss of every model (name -> checkpoint folder, None for the base);
    write them to out_path, each also beside it as `<model>.json` to be reused."""
    means, files = held_out(latents_path)
    out_path = Path(out_path)
    cache_dir = out_path.parent
    losses: dict[str, dict] = {}
    if not files:
        write_json(out_path, {"images": [], "timesteps": list(TIMESTEPS), "models": {}})
        return losses
    renderer, loaded_run = None, None
    what = {"images": files, "prompt": prompt, "timesteps": list(TIMESTEPS), "seed": NOISE_SEED}
    for model, checkpoint_dir in models.items():
        weights = weights_hash_of(checkpoint_dir, base_hash)
        key = hashlib.sha256(json.dumps({**what, "weights": weights}).encode()).hexdigest()
        cached = cache_file(cache_dir, model)
        if cached.is_file() and read_json(cached).get("key") == key:
            losses[model] = read_json(cached)["measured"]
            log.info("%s: validation loss %.5f (reused)", model, losses[model]["loss"])
            continue
        run = model.rpartition("/step-")[0] or model
        if renderer is None or run != loaded_run:  # a checkpoint changes the weights in place
            renderer, loaded_run = GridRenderer(base_dir, device), run
        if checkpoint_dir is not None:
            renderer.use_checkpoint(checkpoint_dir)
        losses[model] = denoising_loss(renderer, means, prompt)
        write_json(cached, {"key": key, "model": model, "measured": losses[model]})
        log.info("%s: validation loss %.5f", model, losses[model]["loss"])
    write_json(out_path, {**what, "models": losses})
    return losses
