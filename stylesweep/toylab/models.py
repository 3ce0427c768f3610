"""The parts of `builtin:toy`, built from the shipped configuration; the CLIP folder.

The CLIP is open_clip's own class, saved as open_clip saves a model for the hub
(`open_clip_config.json` and `open_clip_model.safetensors`), so
`open_clip.create_model_and_transforms("local-dir:<folder>")` loads it. Its text tower, copied
into transformers' CLIPTextModel, is the SD text encoder: the same network, as SD 1.5's text
encoder is OpenAI CLIP ViT-L/14's text tower.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.model import CLIP
from transformers.models.clip.configuration_clip import CLIPTextConfig
from transformers.models.clip.modeling_clip import CLIPTextModel

from stylesweep.base import CLIP_TOKENS, final_layer_norm
from stylesweep.files import write_json, write_safetensors
from stylesweep.toy.configs import CLIP_CONFIG, TEXT_CONFIG, UNET_CONFIG, VAE_CONFIG

CLIP_WEIGHTS = "open_clip_model.safetensors"
CLIP_CONFIG_FILE = "open_clip_config.json"
PREPROCESS = {
    "mean": list(OPENAI_DATASET_MEAN),
    "std": list(OPENAI_DATASET_STD),
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def build_vae(seed: int) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(**VAE_CONFIG)


def build_unet(seed: int) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(**UNET_CONFIG)


def build_clip(seed: int) -> CLIP:
    torch.manual_seed(seed)
    return CLIP(**CLIP_CONFIG)


def normalize_for_clip(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as the CLIP's preprocessing hands them to it (OpenAI's mean and std)."""
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return ((images + 1) / 2 - mean) / std


@torch.no_grad()
def text_encoder_from_clip(clip: CLIP) -> CLIPTextModel:
    """The CLIP's text tower as a transformers CLIPTextModel (SD's text encoder class).

    Same weights, same function: its last hidden state equals the tower's `ln_final` output at
    every position up to the end token (tests/test_toy.py checks it).
    """
    encoder = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG, **CLIP_TOKENS))
    model = getattr(encoder, "text_model", encoder)  # transformers 5 dropped the wrapper
    width = TEXT_CONFIG["hidden_size"]
    model.embeddings.token_embedding.weight.copy_(clip.token_embedding.weight)
    model.embeddings.position_embedding.weight.copy_(clip.positional_embedding)
    for block, layer in zip(clip.transformer.resblocks, model.encoder.layers, strict=True):
        q, k, v = block.attn.in_proj_weight.split(width)
        qb, kb, vb = block.attn.in_proj_bias.split(width)
        for proj, weight, bias in ((layer.self_attn.q_proj, q, qb), (layer.self_attn.k_proj, k, kb),
                                   (layer.self_attn.v_proj, v, vb)):  # fmt: skip
            proj.weight.copy_(weight)
            proj.bias.copy_(bias)
        pairs = [
            (layer.self_attn.out_proj, block.attn.out_proj),
            (layer.layer_norm1, block.ln_1),
            (layer.layer_norm2, block.ln_2),
            (layer.mlp.fc1, block.mlp.c_fc),
            (layer.mlp.fc2, block.mlp.c_proj),
        ]
        for target, source in pairs:
            target.load_state_dict(source.state_dict())
    final_layer_norm(encoder).load_state_dict(clip.ln_final.state_dict())
    return encoder.eval()


def save_clip(clip: CLIP, folder: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Save the CLIP as open_clip's local-dir layout, weights in `dtype`.

    float16 halves the file; open_clip loads it into a float32 model.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(dtype).contiguous() for k, v in clip.state_dict().items()}
    write_safetensors(folder / CLIP_WEIGHTS, state)
    write_json(folder / CLIP_CONFIG_FILE, {"model_cfg": CLIP_CONFIG, "preprocess_cfg": PREPROCESS})
    return folder


def clip_config(folder: str | Path) -> dict:
    return json.loads((Path(folder) / CLIP_CONFIG_FILE).read_text(encoding="utf-8"))
