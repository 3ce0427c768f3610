"""Checkpoint folders: what a training segment trained, plus a manifest.

A DreamBooth checkpoint holds `unet/` and `text_encoder/` in diffusers layout (safetensors);
a textual-inversion checkpoint holds `learned_embeds.safetensors` ({key: [vectors, width]},
the format diffusers' `load_textual_inversion` reads); a LoRA checkpoint holds
`pytorch_lora_weights.safetensors`, as diffusers' `save_lora_weights` writes it (and
`load_lora_weights` reads it). All hold `manifest.json`, and their weights in
`train.save_precision`. The rest of the model (VAE, tokenizer, scheduler) is the base
model's, named in the manifest. What resuming needs (fp32 weights, optimizer state) is kept
outside the folder (stylesweep.resume).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load
from tokenizers import AddedToken

from stylesweep.base import Components
from stylesweep.files import (
    naming_full_disk,
    read_json,
    sha256_file,
    share_files,
    sort_safetensors_metadata,
    write_json,
    write_safetensors,
)
from stylesweep.keys import check_vocabulary, key_tokens

MANIFEST = "manifest.json"
EMBEDDINGS = "learned_embeds.safetensors"
LORA = "pytorch_lora_weights.safetensors"
ADAPTER = "stylesweep"
WEIGHTS = {
    "unet": "unet/diffusion_pytorch_model.safetensors",
    "text_encoder": "text_encoder/model.safetensors",
    "embeddings": EMBEDDINGS,
    "lora": LORA,
}


class CheckpointError(ValueError):
    """A checkpoint folder that is incomplete or does not match its base model."""


def read_manifest(checkpoint_dir: str | Path) -> dict:
    path = Path(checkpoint_dir) / MANIFEST
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing: the checkpoint is incomplete, rerun its train job"
        )
    return read_json(path)


def damaged(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path} is damaged (it is not what training wrote): delete {path.parent} and rerun "
        "the workflow; that segment retrains to the same bytes"
    )


def verify_sizes(checkpoint_dir: str | Path) -> dict:
    """Check each weight file's size against the manifest (cheap: no reading); return it."""
    checkpoint_dir = Path(checkpoint_dir)
    manifest = read_manifest(checkpoint_dir)
    for part, size in manifest.get("weights_bytes", {}).items():
        path = checkpoint_dir / WEIGHTS[part]
        if not path.is_file() or path.stat().st_size != size:
            raise damaged(path)
    return manifest


def load_verified(path: Path, manifest: dict, part: str) -> dict[str, torch.Tensor]:
    """The tensors of a weight file, after checking its sha256 against the manifest."""
    data = path.read_bytes()
    expected = manifest.get("weights_sha256", {}).get(part)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise damaged(path)
    try:
        return load(data)
    except Exception as error:  # safetensors raises its own error types
        raise damaged(path) from error


def input_embeddings(components: Components) -> torch.nn.Embedding:
    return components.text_encoder.get_input_embeddings()


def add_key_tokens(components: Components, key: str, num_vectors: int) -> list[int]:
    """Add a learned key's tokens to the tokenizer (once) and grow the encoder's embedding
    table to match; return their ids.

    A key that is an entry of the tokenizer's own vocabulary is refused (stylesweep.keys).
    The tokens match only whole words: `sks` never takes the end of "tasks" or "asks".
    """
    tokenizer = components.tokenizer
    learned = {str(t) for t in tokenizer.added_tokens_decoder.values() if not t.special}
    check_vocabulary(key, num_vectors, set(tokenizer.get_vocab()) - learned)
    tokens = key_tokens(key, num_vectors)
    missing = [t for t in tokens if t not in learned]
    if missing:
        tokenizer.add_tokens([AddedToken(t, single_word=True) for t in missing])
        components.text_encoder.resize_token_embeddings(len(tokenizer))
    return tokenizer.convert_tokens_to_ids(tokens)


def apply_checkpoint(
    components: Components, checkpoint_dir: str | Path, parts: tuple[str, ...] | None = None
) -> dict:
    """Load a checkpoint's trained weights (all, or the named `parts`) into `components`."""
    checkpoint_dir = Path(checkpoint_dir)
    manifest = verify_sizes(checkpoint_dir)
    for part, relative in WEIGHTS.items():
        path = checkpoint_dir / relative
        if (parts is not None and part not in parts) or not path.is_file():
            continue
        if part == "lora":
            load_verified(path, manifest, part)  # diffusers' loader reads it again
            apply_lora(components, checkpoint_dir)
            continue
        state = load_verified(path, manifest, part)
        if part == "embeddings":
            apply_embeddings(components, state)
            continue
        module = getattr(components, part)
        missing, unexpected = module.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{path} does not fit the base model ({len(missing)} missing, "
                f"{len(unexpected)} unexpected tensors): was it trained from another base model?"
            )
    return manifest


def apply_embeddings(components: Components, learned: dict[str, torch.Tensor]) -> None:
    """Put learned key vectors ({key: [vectors, width]}) into the tokenizer and encoder."""
    for key, vectors in learned.items():
        ids = add_key_tokens(components, key, vectors.shape[0])
        weight = input_embeddings(components).weight
        if vectors.shape[1] != weight.shape[1]:
            raise CheckpointError(
                f"embedding of {key!r} is {vectors.shape[1]} wide, the text encoder "
                f"{weight.shape[1]}: it was trained for another base model"
            )
        with torch.no_grad():
            weight[ids] = vectors.to(weight.dtype)


def remove_lora(components: Components) -> None:
    """Remove the adapters a previous LoRA checkpoint put into the UNet and text encoder."""
    for module in (components.unet, components.text_encoder):
        if ADAPTER in getattr(module, "peft_config", {}):
            delete_adapter(module, ADAPTER)


def apply_lora(components: Components, checkpoint_dir: str | Path) -> None:
    """Load a LoRA checkpoint's adapters (replacing any loaded before) with diffusers' loaders."""
    from diffusers import StableDiffusionPipeline

    remove_lora(components)
    state, alphas, metadata = StableDiffusionPipeline.lora_state_dict(
        str(checkpoint_dir), return_lora_metadata=True
    )
    StableDiffusionPipeline.load_lora_into_unet(
        state, alphas, components.unet, adapter_name=ADAPTER, metadata=metadata
    )
    if any(key.startswith("text_encoder.") for key in state):
        StableDiffusionPipeline.load_lora_into_text_encoder(
            state, alphas, components.text_encoder, prefix="text_encoder",
            adapter_name=ADAPTER, metadata=metadata,
        )  # fmt: skip


def delete_adapter(module: torch.nn.Module, name: str) -> None:
    """peft's own layer-level removal (transformers' wrapper for it wants a newer peft)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for layer in module.modules():
        if isinstance(layer, BaseTunerLayer):
            layer.delete_adapter(name)
    module.peft_config.pop(name)
    if not module.peft_config:  # peft treats a leftover empty config as a second adapter
        del module.peft_config
        module._hf_peft_config_loaded = False  # the flag transformers and diffusers check


SAVE_PRECISIONS = {"fp16": torch.float16, "fp32": torch.float32}


def in_precision(tensors: dict[str, torch.Tensor], precision: str) -> dict[str, torch.Tensor]:
    """Copies of floating-point `tensors` in the checkpoint's number format (on the CPU)."""
    dtype = SAVE_PRECISIONS[precision]
    return {
        name: (value.to(dtype) if value.is_floating_point() else value).detach().cpu().contiguous()
        for name, value in tensors.items()
    }


def save_module(module: torch.nn.Module, folder: Path, weights_file: str, precision: str) -> None:
    """A diffusers or transformers module in its library's layout (config.json and one
    safetensors file) with its weights in `precision`.

    Written here rather than by `save_pretrained`: that saves the module's own dtype, and
    casting the training copy to fp16 and back would round the weights training goes on with.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = module.config
    if hasattr(config, "save_pretrained"):  # transformers
        config.save_pretrained(folder)
    else:  # diffusers
        module.save_config(folder)
    tensors = in_precision(module.state_dict(), precision)
    with naming_full_disk(folder / weights_file):
        write_safetensors(folder / weights_file, tensors, metadata={"format": "pt"})


def save_checkpoint(
    components: Components,
    checkpoint_dir: str | Path,
    manifest: dict,
    precision: str = "fp32",
    learned: dict[str, torch.Tensor] | None = None,
    lora: dict | None = None,
) -> None:
    """Write what the method trained, in `precision`, and the manifest; the manifest goes
    last, marking completion.

    DreamBooth writes the UNet and text encoder, textual inversion only the learned vectors.
    The manifest records each part's sha256, so a renderer can tell that two checkpoints
    share a frozen text encoder without hashing them again.
    """
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if learned is not None:
        write_safetensors(checkpoint_dir / EMBEDDINGS, in_precision(learned, precision))
    elif lora is not None:
        from diffusers import StableDiffusionPipeline

        layers = {
            name: in_precision(value, precision) if name.endswith("_lora_layers") else value
            for name, value in lora.items()
        }
        with naming_full_disk(checkpoint_dir / LORA):
            StableDiffusionPipeline.save_lora_weights(checkpoint_dir, **layers)
        sort_safetensors_metadata(checkpoint_dir / LORA)
    else:
        for part in ("unet", "text_encoder"):
            relative = Path(WEIGHTS[part])
            save_module(getattr(components, part), checkpoint_dir / relative.parent,
                        relative.name, precision)  # fmt: skip
    share_files(checkpoint_dir)  # diffusers' and transformers' safetensors files are private
    written = [part for part, relative in WEIGHTS.items() if (checkpoint_dir / relative).is_file()]
    hashes = {part: sha256_file(checkpoint_dir / WEIGHTS[part]) for part in written}
    sizes = {part: (checkpoint_dir / WEIGHTS[part]).stat().st_size for part in written}
    write_json(
        checkpoint_dir / MANIFEST,
        {**manifest, "weights_sha256": hashes, "weights_bytes": sizes},
    )
