"""Base models: the built-in tiny SD 1.5-shaped model, and loading any base model folder.

`builtin:tiny` has every component of Stable Diffusion 1.5 (UNet with cross-attention,
KL autoencoder with an 8x downsampling, CLIP text encoder, the real CLIP tokenizer, the
SD 1.5 noise schedule) at a tiny width, generated from a fixed seed. It turns noise into
colour studies, not art, but it exercises exactly the code that real weights go through.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

# Each class from the module that defines it: diffusers' and transformers' top-level
# packages resolve names lazily but cost seconds when asked for a pipeline.
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from transformers.models.clip.configuration_clip import CLIPTextConfig
from transformers.models.clip.modeling_clip import CLIPTextModel
from transformers.models.clip.tokenization_clip import CLIPTokenizer

from stylesweep.files import naming_full_disk, sha256_tree, share_files
from stylesweep.logs import spent
from stylesweep.sources import SD15_CONFIGS, BaseModelError, check_model_folder
from stylesweep.tokenizer import MAX_LENGTH, VOCAB_SIZE, build_clip_tokenizer

log = logging.getLogger(__name__)


# Stable Diffusion 1.5's noise schedule (its scheduler/scheduler_config.json).
SD15_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    set_alpha_to_one=False,
    skip_prk_steps=True,
    steps_offset=1,
    prediction_type="epsilon",
)


# What every CLIP text encoder of SD 1.5's family shares: the vocabulary, the 77-token
# context, the activation and the special tokens.
CLIP_TOKENS = dict(
    vocab_size=VOCAB_SIZE,
    max_position_embeddings=MAX_LENGTH,
    hidden_act="quick_gelu",
    bos_token_id=49406,
    eos_token_id=49407,
    pad_token_id=49407,
)


def build_tiny_model(folder: str | Path, seed: int = 0) -> Path:
    """Generate the built-in tiny model into `folder` (diffusers layout), deterministically."""
    return save_model(folder, *tiny_components(seed))


def tiny_components(seed: int = 0) -> tuple[UNet2DConditionModel, AutoencoderKL, CLIPTextModel]:
    """UNet, VAE and text encoder of the built-in tiny model, initialised from `seed`."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 32, 64, 64),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=64,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=16,
        sample_size=64,
        scaling_factor=0.18215,
    )
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            projection_dim=64,
            **CLIP_TOKENS,
        )
    )
    with torch.no_grad():
        # A freshly initialised LayerNorm has zero bias, so the encoder's output averages to
        # about zero and AUTOMATIC1111's emphasis (which rescales by the mean) divides by it.
        # Trained CLIP's final LayerNorm has a bias; give the tiny one a random bias too.
        final_layer_norm(text_encoder).bias.normal_(0.2, 0.5)
    return unet, vae, text_encoder


def save_model(
    folder: str | Path, unet: UNet2DConditionModel, vae: AutoencoderKL, text_encoder: CLIPTextModel
) -> Path:
    """Save the parts with the real CLIP tokenizer and SD 1.5's scheduler, in diffusers layout.

    Written to a sibling folder first and renamed, so a killed job leaves no half model.
    """
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import (
        StableDiffusionPipeline,
    )
    from diffusers.schedulers.scheduling_pndm import PNDMScheduler

    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_clip_tokenizer(partial / "tokenizer"),
        unet=unet,
        scheduler=PNDMScheduler(**SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    with naming_full_disk(partial / "unet" / "diffusion_pytorch_model.safetensors"):
        pipeline.save_pretrained(partial)
    share_files(partial)  # diffusers' safetensors files are private
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def sd15_components(seed: int = 0) -> tuple[UNet2DConditionModel, AutoencoderKL, CLIPTextModel]:
    """UNet, VAE and text encoder of Stable Diffusion 1.5's shapes (the configs shipped in
    stylesweep/data/sd15), randomly initialised: the same compute as the real weights."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SD15_CONFIGS / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD15_CONFIGS / "vae"))
    text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(SD15_CONFIGS / "text_encoder"))
    return unet, vae, text_encoder


def build_sd15_sized_model(folder: str | Path, seed: int = 0) -> Path:
    """A randomly initialised model of Stable Diffusion 1.5's full size, for benchmarks."""
    return save_model(folder, *sd15_components(seed))


@dataclass
class Components:
    """The parts of a Stable Diffusion 1.5 model that stylesweep uses."""

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    noise_scheduler: DDPMScheduler


def load_components(folder: str | Path, device: str | torch.device = "cpu") -> Components:
    """Load every component of the base model in `folder` with the library loaders."""
    folder = check_model_folder(folder)
    with spent("model load"):
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
        if unet.config.in_channels != 4 or unet.config.cross_attention_dim is None:
            raise BaseModelError(
                f"{folder}/unet is not a Stable Diffusion 1.5 UNet (4 latent channels)"
            )
        components = Components(
            unet=unet,
            vae=AutoencoderKL.from_pretrained(folder, subfolder="vae"),
            text_encoder=CLIPTextModel.from_pretrained(folder, subfolder="text_encoder"),
            tokenizer=CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer"),
            noise_scheduler=DDPMScheduler.from_pretrained(folder, subfolder="scheduler"),
        )
        for module in (components.unet, components.vae, components.text_encoder):
            module.to(device)
    return components


def model_hash(folder: str | Path) -> str:
    """A content hash of a model folder's weights (sha256 over its .safetensors files)."""
    return sha256_tree(folder)


def final_layer_norm(text_encoder: CLIPTextModel) -> torch.nn.LayerNorm:
    """The encoder's last LayerNorm (transformers 5 dropped the `text_model` wrapper)."""
    return getattr(text_encoder, "text_model", text_encoder).final_layer_norm
