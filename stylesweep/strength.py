"""Strength at inference: how far a rendered model moves from its base model.

Artists choose a strength as well as a checkpoint, so every grid can render each checkpoint
at several strengths (`sample.strengths`), each as the tools they use would apply it:

- LoRA: the adapters' scale, A1111's `<lora:NAME:s>` (peft's `set_scale`, on the UNet's and
  the text encoder's adapters alike, as A1111 applies one multiplier to both).
- DreamBooth: the weights moved from the base model's, `W = W_base + s (W - W_base)`, for
  the UNet and the text encoder: A1111's checkpoint merger ("weighted sum"), in memory.
- Textual inversion: the learned vectors moved from the ones training started from (the
  init word's first token), `v = v_init + s (v - v_init)`.

Strength 0 is the base model (for textual inversion: the prompt with the init word's vector
in the key's place), 1 the checkpoint as trained; above 1 extrapolates. The checkpoint's
weights are loaded as trained first (stylesweep.checkpoints), then moved here, so strength 1
is never touched and renders exactly the checkpoint's images.
"""

from __future__ import annotations

import torch

from stylesweep.base import Components
from stylesweep.checkpoints import ADAPTER, input_embeddings

PARTS = ("unet", "text_encoder")


def base_weights(components: Components) -> dict[str, dict[str, torch.Tensor]]:
    """Copies of the base model's UNet and text-encoder weights, to blend DreamBooth
    checkpoints with (on the modules' device and in their dtype: 2 GB at SD 1.5 in fp16)."""
    return {
        part: {k: v.detach().clone() for k, v in getattr(components, part).state_dict().items()}
        for part in PARTS
    }


@torch.no_grad()
def blend_with_base(
    components: Components,
    base: dict[str, dict[str, torch.Tensor]],
    strength: float,
    parts: tuple[str, ...] = PARTS,
) -> None:
    """Move a loaded DreamBooth checkpoint's `parts` to `W_base + s (W - W_base)`, in place.

    Computed in float32 whatever the modules' dtype, so that fp16 weights lose nothing
    more than their final rounding."""
    for part in parts:
        originals = base[part]
        for name, tensor in getattr(components, part).state_dict().items():
            if not tensor.is_floating_point() or name not in originals:
                continue
            start = originals[name].float()
            tensor.copy_(start + strength * (tensor.float() - start))


def scale_lora(components: Components, strength: float) -> None:
    """Set the scale of the loaded LoRA adapters (peft's own per-layer setting)."""
    from peft.tuners.lora.layer import LoraLayer

    for part in PARTS:
        for layer in getattr(components, part).modules():
            if isinstance(layer, LoraLayer):
                layer.set_scale(ADAPTER, strength)


@torch.no_grad()
def scale_embeddings(components: Components, tokens: list[str], init_word: str, strength: float):
    """Move a learned key's vectors from the init word's: `v_init + s (v - v_init)`."""
    tokenizer = components.tokenizer
    ids = tokenizer.convert_tokens_to_ids(tokens)
    init_id = tokenizer(init_word, add_special_tokens=False).input_ids[0]
    weight = input_embeddings(components).weight
    start = weight[init_id].float()
    weight[ids] = (start + strength * (weight[ids].float() - start)).to(weight.dtype)


def apply_strength(
    components: Components,
    manifest: dict,
    strength: float,
    base: dict | None,
    parts: tuple[str, ...] = PARTS,
) -> None:
    """Put a loaded checkpoint at `strength`; strength 1 leaves it as trained.

    `base` holds the base model's weights (`base_weights`), needed by DreamBooth only;
    `parts` are the parts the checkpoint loaded (a DreamBooth text encoder shared with the
    previous checkpoint is kept as it is, already at this strength)."""
    if strength == 1:
        return
    method = manifest.get("method", "dreambooth")
    if method != "dreambooth" and "text_encoder" not in parts:
        return  # nothing was loaded again: the key or adapters are at this strength already
    if method == "lora":
        scale_lora(components, strength)
    elif method == "textual_inversion":
        settings = manifest["settings"]
        scale_embeddings(components, manifest["tokens"], settings["init_word"], strength)
    else:
        if base is None:
            raise ValueError("a DreamBooth checkpoint's strength needs the base weights")
        blend_with_base(components, base, strength, parts)
