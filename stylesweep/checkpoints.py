"""Checkpoint folders: what a training segment trained, plus a manifest.

A DreamBooth checkpoint holds `unet/` and `text_encoder/` in diffusers layout (safetensors)
and `manifest.json`. The rest of the model (VAE, tokenizer, scheduler) is the base model's,
named in the manifest. Optimizer state for resuming is kept outside the folder.
"""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from stylesweep.base import Components
from stylesweep.files import read_json, sha256_file, write_json

MANIFEST = "manifest.json"
WEIGHTS = {
    "unet": "diffusion_pytorch_model.safetensors",
    "text_encoder": "model.safetensors",
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


def apply_checkpoint(
    components: Components, checkpoint_dir: str | Path, parts: tuple[str, ...] | None = None
) -> None:
    """Load a checkpoint's trained weights (all, or the named `parts`) into `components`."""
    checkpoint_dir = Path(checkpoint_dir)
    read_manifest(checkpoint_dir)
    for part, file_name in WEIGHTS.items():
        if parts is not None and part not in parts:
            continue
        path = checkpoint_dir / part / file_name
        if not path.is_file():
            continue
        module = getattr(components, part)
        missing, unexpected = module.load_state_dict(load_file(path), strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{path} does not fit the base model ({len(missing)} missing, "
                f"{len(unexpected)} unexpected tensors): was it trained from another base model?"
            )


def save_checkpoint(components: Components, checkpoint_dir: str | Path, manifest: dict) -> None:
    """Write the trained parts and the manifest; the manifest goes last, marking completion.

    The manifest records each part's sha256, so a renderer can tell that two checkpoints
    share a frozen text encoder without hashing them again.
    """
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    components.unet.save_pretrained(checkpoint_dir / "unet")
    components.text_encoder.save_pretrained(checkpoint_dir / "text_encoder")
    hashes = {part: sha256_file(checkpoint_dir / part / name) for part, name in WEIGHTS.items()}
    write_json(checkpoint_dir / MANIFEST, {**manifest, "weights_sha256": hashes})
