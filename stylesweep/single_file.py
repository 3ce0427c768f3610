"""Single-file Stable Diffusion 1.5 checkpoints, in the original (LDM) layout that
AUTOMATIC1111, ComfyUI and Civitai use: reading one as a base model, writing one from a model.

Reading is diffusers' own converter (`from_single_file`), given the SD 1.5 component configs
shipped in stylesweep/data/sd15 so that nothing is fetched. Writing needs the reverse key
mapping, which diffusers keeps only as a script outside the package
(scripts/convert_diffusers_to_original_stable_diffusion.py, fixed to SD 1.5's two layers per
block); it is written out here for any number of layers per block, so the tiny model
converts too and the tests can check the round trip.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from stylesweep.base import SD15_CONFIGS, Components, save_model
from stylesweep.files import write_safetensors
from stylesweep.sources import BaseModelError
from stylesweep.tokenizer import build_clip_tokenizer

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer.text_model."
# Text-encoder prefixes of other model families, to name them in the error.
OTHER_FAMILIES = {
    "cond_stage_model.model.": "Stable Diffusion 2.x (OpenCLIP text encoder)",
    "conditioner.embedders.": "Stable Diffusion XL",
    "text_encoders.": "Stable Diffusion 3",
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


# --- Reading ------------------------------------------------------------------------------
def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file, or of a .ckpt pickle that loads with
    `weights_only=True` (a pickle that needs more could run any code, so it is refused)."""
    path = Path(path)
    if not path.is_file():
        raise BaseModelError(f"base model file {path} does not exist")
    if path.suffix.lower() == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own error types
            raise BaseModelError(f"{path} is not a readable .safetensors file: {error}") from None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise BaseModelError(
            f"{path} is a legacy pickle that needs arbitrary code to load, so stylesweep "
            "refuses it; ask for the model as .safetensors, or convert it with a tool you "
            f"trust in a sandbox ({str(error).splitlines()[0]})"
        ) from None
    except Exception as error:
        raise BaseModelError(f"{path} is not a readable checkpoint: {error}") from None
    state_dict = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else {}
    return {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}


def check_sd15_layout(state_dict: dict[str, torch.Tensor], name: str) -> None:
    """Fail with one clear line unless the keys are those of an SD 1.x single file."""
    for prefix, family in OTHER_FAMILIES.items():
        if any(key.startswith(prefix) for key in state_dict):
            raise BaseModelError(f"{name} looks like {family}; stylesweep trains SD 1.5 models")
    missing = [
        part
        for part, prefix in (
            ("UNet", UNET_PREFIX),
            ("VAE", VAE_PREFIX),
            ("text encoder", TEXT_PREFIX),
        )
        if not any(key.startswith(prefix) for key in state_dict)
    ]
    if missing:
        raise BaseModelError(
            f"{name} is not a Stable Diffusion 1.5 checkpoint: it has no {', '.join(missing)} "
            f"weights (keys starting {UNET_PREFIX!r}, {VAE_PREFIX!r}, {TEXT_PREFIX!r})"
        )


def convert_single_file(
    path: str | Path, folder: str | Path, configs: str | Path = SD15_CONFIGS
) -> Path:
    """Convert a single-file SD 1.5 checkpoint into a diffusers folder, offline.

    `configs` holds the component configs (SD 1.5's, shipped); tests pass the tiny model's.
    """
    from diffusers import StableDiffusionPipeline

    path = Path(path)
    state_dict = read_state_dict(path)
    check_sd15_layout(state_dict, str(path))
    with tempfile.TemporaryDirectory() as scratch:
        config_dir = Path(scratch) / "config"
        shutil.copytree(configs, config_dir, ignore=shutil.ignore_patterns("*.safetensors"))
        if not (config_dir / "tokenizer").is_dir():
            build_clip_tokenizer(config_dir / "tokenizer")
        source = path
        if path.suffix.lower() == ".ckpt":
            # diffusers would unpickle the file again; hand it the checked tensors instead
            source = Path(scratch) / "checkpoint.safetensors"
            save_file({k: v.contiguous() for k, v in state_dict.items()}, str(source))
        del state_dict
        try:
            pipeline = StableDiffusionPipeline.from_single_file(
                str(source),
                config=str(config_dir),
                local_files_only=True,
                torch_dtype=torch.float32,
                safety_checker=None,
                feature_extractor=None,
            )
        except (ValueError, RuntimeError, KeyError) as error:
            raise BaseModelError(
                f"{path} does not fit Stable Diffusion 1.5's shapes: {str(error).splitlines()[0]}"
            ) from None
    return save_model(folder, pipeline.unet, pipeline.vae, pipeline.text_encoder)


# --- Writing ------------------------------------------------------------------------------
UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}
UNET_RESNET = {
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "time_emb_proj.": "emb_layers.1.",
    "conv_shortcut.": "skip_connection.",
}
VAE_RESNET = {"conv_shortcut.": "nin_shortcut."}
VAE_ATTENTION = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}


def unet_block_prefixes(config: dict) -> list[tuple[str, str, dict]]:
    """(diffusers prefix, original prefix, renames inside) for each block of the UNet."""
    layers = config["layers_per_block"]
    down, up = config["down_block_types"], config["up_block_types"]
    pairs: list[tuple[str, str, dict]] = []
    for i, kind in enumerate(down):
        for j in range(layers):
            index = 1 + i * (layers + 1) + j
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{index}.0.", UNET_RESNET))
            if "CrossAttn" in kind:
                pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{index}.1.", {}))
        if i < len(down) - 1:
            index = (i + 1) * (layers + 1)
            pairs.append(
                (f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{index}.0.op.", {})
            )
    for i, kind in enumerate(up):
        for j in range(layers + 1):
            index = i * (layers + 1) + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{index}.0.", UNET_RESNET))
            if "CrossAttn" in kind:
                pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{index}.1.", {}))
        if i < len(up) - 1:
            index = i * (layers + 1) + layers
            position = 2 if "CrossAttn" in kind else 1
            pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{index}.{position}.", {}))
    pairs.append(("mid_block.attentions.0.", "middle_block.1.", {}))
    pairs += [(f"mid_block.resnets.{j}.", f"middle_block.{2 * j}.", UNET_RESNET) for j in range(2)]
    return pairs


def vae_block_prefixes(config: dict) -> list[tuple[str, str, dict]]:
    """(diffusers prefix, original prefix, renames inside) for each block of the VAE."""
    layers, count = config["layers_per_block"], len(config["block_out_channels"])
    pairs: list[tuple[str, str, dict]] = [
        ("encoder.conv_norm_out.", "encoder.norm_out.", {}),
        ("decoder.conv_norm_out.", "decoder.norm_out.", {}),
    ]
    for i in range(count):
        for j in range(layers):
            pairs.append(
                (
                    f"encoder.down_blocks.{i}.resnets.{j}.",
                    f"encoder.down.{i}.block.{j}.",
                    VAE_RESNET,
                )
            )
        for j in range(layers + 1):
            original = f"decoder.up.{count - 1 - i}.block.{j}."
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}.", original, VAE_RESNET))
        if i < count - 1:
            pairs.append(
                (f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.", {})
            )
            original = f"decoder.up.{count - 1 - i}.upsample."
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", original, {}))
    for part in ("encoder", "decoder"):
        pairs.append((f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", VAE_ATTENTION))
        pairs += [
            (f"{part}.mid_block.resnets.{j}.", f"{part}.mid.block_{j + 1}.", VAE_RESNET)
            for j in range(2)
        ]
    return pairs


def rename(key: str, prefixes: list[tuple[str, str, dict]], top: dict[str, str]) -> str:
    for old, new in top.items():
        if key.startswith(old):
            return new + key[len(old) :]
    for old, new, inside in prefixes:
        if key.startswith(old):
            rest = key[len(old) :]
            for inner_old, inner_new in inside.items():
                if rest.startswith(inner_old):
                    rest = inner_new + rest[len(inner_old) :]
                    break
            return new + rest
    return key  # names shared by both layouts (attention internals, quant_conv, ...)


def original_layout(components: Components) -> dict[str, torch.Tensor]:
    """Every weight of the model under its original SD 1.5 single-file name."""
    out: dict[str, torch.Tensor] = {}
    unet_prefixes = unet_block_prefixes(components.unet.config)
    for key, value in components.unet.state_dict().items():
        out[UNET_PREFIX + rename(key, unet_prefixes, UNET_TOP)] = value
    vae_prefixes = vae_block_prefixes(components.vae.config)
    for key, value in components.vae.state_dict().items():
        new = rename(key, vae_prefixes, {})
        if ".mid.attn_1." in new and new.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # the original VAE attention uses 1x1 convolutions
        out[VAE_PREFIX + new] = value
    for key, value in components.text_encoder.state_dict().items():
        out[TEXT_PREFIX + key.removeprefix("text_model.")] = value
    return out


def save_single_file(
    components: Components, path: str | Path, dtype: str = "fp16", metadata: dict | None = None
) -> Path:
    """Write the model as one .safetensors file that AUTOMATIC1111 and ComfyUI load."""
    tensors = {
        key: value.detach().to("cpu", DTYPES[dtype]).contiguous()
        for key, value in original_layout(components).items()
    }
    return write_safetensors(path, tensors, metadata)
