"""Train `builtin:toy` from a seed, on the toy world: the VAE, then the CLIP, then the UNet.

The order is SD's: an autoencoder first; a CLIP trained contrastively, whose text tower
becomes the frozen text encoder; then the UNet on the autoencoder's latents, conditioned on
that encoder (epsilon prediction on SD 1.5's noise schedule, 10 % empty captions for
classifier-free guidance). Every step's pictures, noise and timesteps come from sources
seeded by (seed, part, step), so a run is the same on every CPU with the same thread count
and library versions. The output folder holds the SD model in diffusers layout (`model/`),
the CLIP in open_clip's (`clip/`), and `manifest.json` (files and hashes, command, seed,
plan, seconds, loss curves, versions).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from open_clip.loss import ClipLoss
from open_clip.model import CLIP
from open_clip.tokenizer import SimpleTokenizer
from transformers.models.clip.modeling_clip import CLIPTextModel

from stylesweep.base import SD15_SCHEDULER, save_model
from stylesweep.clip_model import load_clip_folder
from stylesweep.files import sha256_file, write_json
from stylesweep.tokenizer import MAX_LENGTH, build_clip_tokenizer
from stylesweep.toy.configs import IMAGE_SIZE, Plan
from stylesweep.toy.shipped import CLIP_FOLDER, MANIFEST, MODEL_FOLDER, SCORER_FOLDER, weights_bytes
from stylesweep.toy.world import caption, draw
from stylesweep.toylab.loop import fit, step_generator, step_random, training_indices
from stylesweep.toylab.models import (
    build_clip,
    build_unet,
    build_vae,
    normalize_for_clip,
    save_clip,
    text_encoder_from_clip,
)
from stylesweep.toylab.scorer import train_and_save

log = logging.getLogger(__name__)


# --- Data ------------------------------------------------------------------------------------
def pictures(indices: list[int]) -> tuple[torch.Tensor, list[str], list[dict]]:
    """The world's pictures: images in [-1, 1] (N, 3, H, W), captions, attributes."""
    drawn = [draw(i, IMAGE_SIZE) for i in indices]
    pixels = np.stack([np.asarray(p.image) for p in drawn]).astype(np.float32) / 127.5 - 1
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    return images, [p.caption for p in drawn], [p.attributes for p in drawn]


def recolour(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Half the batch with its colour channels shuffled and rescaled: the autoencoder meets
    colours beyond the world's palette (saturated magenta and cyan, say), as SD's VAE has."""
    images = images.clone()
    for i in range(0, len(images), 2):
        order = torch.randperm(3, generator=generator)
        gain = torch.empty(3, 1, 1).uniform_(0.7, 1.3, generator=generator)
        images[i] = (images[i, order] * gain + (gain - 1)).clamp(-1, 1)
    return images


# --- The parts ------------------------------------------------------------------------------
def train_vae(plan: Plan, seed: int) -> tuple[AutoencoderKL, list[float]]:
    """SD's autoencoder objective without its perceptual and adversarial terms: L1 + small KL."""
    vae = build_vae(seed)
    part = plan.vae

    def loss_at(step: int) -> torch.Tensor:
        rng = step_random(seed, "vae", step)
        images, _, _ = pictures(training_indices(rng, part.batch_size))
        images = recolour(images, step_generator(seed, "vae-colour", step))
        posterior = vae.encode(images).latent_dist
        latents = posterior.sample(step_generator(seed, "vae", step))
        reconstruction = vae.decode(latents).sample
        kl = posterior.kl().mean()
        return F.l1_loss(reconstruction, images) + plan.kl_weight * kl

    return vae, fit("vae", vae, plan.vae, loss_at, plan.log_every)


def train_clip(plan: Plan, seed: int) -> tuple[CLIP, list[float]]:
    """CLIP's contrastive objective on the world's pictures and captions."""
    clip = build_clip(seed)
    part, loss = plan.clip, ClipLoss()
    tokenizer = SimpleTokenizer(context_length=MAX_LENGTH)

    def loss_at(step: int) -> torch.Tensor:
        rng = step_random(seed, "clip", step)
        images, captions, _ = pictures(training_indices(rng, part.batch_size))
        image_features, text_features, scale = clip(normalize_for_clip(images), tokenizer(captions))
        return loss(image_features, text_features, scale)

    def clamp_scale(step: int) -> None:
        with torch.no_grad():
            clip.logit_scale.clamp_(0, math.log(100))

    return clip, fit("clip", clip, part, loss_at, plan.log_every, clamp_scale)


@torch.no_grad()
def encode_pictures(vae: AutoencoderKL, count: int, seed: int) -> dict:
    """`count` training pictures encoded once: latent means and deviations, and attributes.

    Also sets the VAE's scaling factor, as SD's 0.18215 was set: one over the deviation of
    the latents, so that the UNet sees latents of unit variance.
    """
    rng = step_random(seed, "latents", 0)
    indices = training_indices(rng, count)
    means, stds, attributes = [], [], []
    for start in range(0, count, 64):
        images, _, attrs = pictures(indices[start : start + 64])
        posterior = vae.encode(images).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
        attributes.extend(attrs)
    mean, std = torch.cat(means), torch.cat(stds)
    scaling = float(1 / torch.sqrt(mean.var() + std.pow(2).mean()))
    vae.register_to_config(scaling_factor=round(scaling, 5))
    return {"mean": mean, "std": std, "attributes": attributes}


def train_unet(
    plan: Plan, seed: int, latents: dict, vae: AutoencoderKL, text_encoder: CLIPTextModel
) -> tuple[UNet2DConditionModel, list[float]]:
    """SD's objective: predict the noise added at a random timestep of SD 1.5's schedule,
    weighted by min-SNR; returns the exponential moving average of the weights."""
    unet = build_unet(seed)
    ema = copy.deepcopy(unet).requires_grad_(False)
    part = plan.unet
    scheduler = DDPMScheduler.from_config(SD15_SCHEDULER)
    alphas = scheduler.alphas_cumprod
    snr = alphas / (1 - alphas)
    weight = torch.clamp(snr, max=plan.snr_gamma) / snr
    scaling = vae.config.scaling_factor
    text_encoder.requires_grad_(False)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_clip_tokenizer(tmp)
    count = len(latents["attributes"])

    def loss_at(step: int) -> torch.Tensor:
        rng = step_random(seed, "unet", step)
        generator = step_generator(seed, "unet", step)
        rows = [rng.randrange(count) for _ in range(part.batch_size)]
        captions = [
            "" if rng.random() < plan.caption_dropout else caption(latents["attributes"][r], rng)
            for r in rows
        ]
        mean, std = latents["mean"][rows], latents["std"][rows]
        sample = mean + std * torch.randn(mean.shape, generator=generator)
        clean = sample * scaling
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(0, len(alphas), (len(rows),), generator=generator)
        noisy = scheduler.add_noise(clean, noise, timesteps)
        ids = tokenizer(
            captions, padding="max_length", max_length=MAX_LENGTH, truncation=True,
            return_tensors="pt",
        ).input_ids  # fmt: skip
        with torch.no_grad():
            context = text_encoder(ids)[0]
        predicted = unet(noisy, timesteps, context).sample
        errors = (predicted - noise).pow(2).mean(dim=(1, 2, 3))
        return (weight[timesteps] * errors).mean()

    ema_params, params = list(ema.parameters()), list(unet.parameters())

    def update_ema(step: int) -> None:
        decay = min(plan.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - decay)

    curve = fit("unet", unet, part, loss_at, plan.log_every, update_ema)
    return ema.eval(), curve


# --- The whole run ------------------------------------------------------------------------------
def train_toy(out: str | Path, seed: int = 0, plan: Plan | None = None, command: str = "") -> Path:
    """Train every part and write the model, the CLIP and the manifest into `out`.

    Written to a sibling folder first and renamed, so a killed run leaves no half model.
    """
    plan = plan or Plan()
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    seconds: dict[str, float] = {}
    losses: dict[str, list[float]] = {}
    started = time.perf_counter()

    def timed(name: str, work: Callable):
        begun = time.perf_counter()
        result = work()
        seconds[name] = round(time.perf_counter() - begun, 1)
        return result

    vae, losses["vae"] = timed("vae", lambda: train_vae(plan, seed))
    clip, losses["clip"] = timed("clip", lambda: train_clip(plan, seed))
    text_encoder = text_encoder_from_clip(clip)
    latents = timed("encode", lambda: encode_pictures(vae, plan.latent_images, seed))
    unet, losses["unet"] = timed("unet", lambda: train_unet(plan, seed, latents, vae, text_encoder))
    save_model(partial / MODEL_FOLDER, unet, vae, text_encoder)
    save_clip(clip, partial / CLIP_FOLDER)
    # from the CLIP as shipped (float16), as `--only scorer` retrains it
    shipped = load_clip_folder(partial / CLIP_FOLDER)[0]
    scorer = timed("scorer", lambda: train_and_save(shipped, partial / SCORER_FOLDER, plan, seed))
    losses["scorer"] = scorer["losses"]
    seconds["total"] = round(time.perf_counter() - started, 1)
    write_manifest(
        partial, command=command, seed=seed, plan=asdict(plan), seconds=seconds, losses=losses,
        scorer_retrieval=scorer["retrieval"],
    )  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def retrain_scorer(folder: str | Path, seed: int = 0, plan: Plan | None = None, command: str = ""):
    """Train only the style-and-content scorer of a trained folder, from its CLIP, and bring
    the manifest up to date (the diffusion parts and the CLIP are left as they are)."""
    plan = plan or Plan()
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    clip = load_clip_folder(folder / CLIP_FOLDER)[0]
    begun = time.perf_counter()
    partial = folder / (SCORER_FOLDER + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    scorer = train_and_save(clip, partial, plan, seed)
    shutil.rmtree(folder / SCORER_FOLDER, ignore_errors=True)
    partial.rename(folder / SCORER_FOLDER)
    manifest["plan"]["scorer"] = asdict(plan.scorer)
    manifest["plan"]["scorer_temperature"] = plan.scorer_temperature
    manifest["seconds"]["scorer"] = round(time.perf_counter() - begun, 1)
    manifest["losses"]["scorer"] = scorer["losses"]
    manifest["scorer_retrieval"] = scorer["retrieval"]
    manifest["scorer_command"] = command
    keep = ("files", "versions", "threads", "weights_megabytes", "name")
    write_manifest(folder, **{k: v for k, v in manifest.items() if k not in keep})
    return folder


def write_manifest(folder: Path, **facts) -> None:
    from stylesweep.versions import package_versions

    files = {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    manifest = {
        "name": "builtin:toy",
        **facts,
        "threads": torch.get_num_threads(),
        "weights_megabytes": round(weights_bytes(folder) / 1e6, 2),
        "versions": package_versions(),
        "files": files,
    }
    write_json(folder / MANIFEST, manifest)
