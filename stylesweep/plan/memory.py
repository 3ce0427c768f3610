"""Peak GPU memory of a training run and of sampling, without a GPU or any weights.

The weights, gradients and optimizer state follow from the tensor tables and the settings.
Activations are measured: one forward pass of the UNet (and of the text encoder, when it
trains) at the run's resolution and batch size on fake tensors (PyTorch's FakeTensorMode:
shapes and dtypes, no memory), counting every tensor autograd keeps for the backward pass.
With gradient checkpointing, each block diffusers checkpoints (ResnetBlock2D,
Transformer2DModel) keeps only its input, and one block at a time recomputes its inside.
The same pass counts the FLOPs (torch.utils.flop_counter) that stylesweep.plan.speed uses.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass

from stylesweep.plan.tensors import cache_dir, numel, table_key
from stylesweep.sweep import prior_loss_weight, text_encoder_steps

GIB = 1024**3
# The CUDA context, cuBLAS workspaces and the caching allocator's slack: about what
# torch.cuda.max_memory_reserved shows above max_memory_allocated on one training step.
CUDA_OVERHEAD = int(0.8 * GIB)
ADAM_BYTES = 8  # two fp32 moments per parameter
ADAM8BIT_BYTES = 2 + 8 / 256  # two 8-bit moments and their fp32 block scales (blocks of 256)
BNB_MIN_8BIT = 4096  # bitsandbytes keeps tensors smaller than this in 32 bits


@dataclass(frozen=True)
class Activations:
    """What one forward pass keeps for the backward pass, and its FLOPs."""

    saved_bytes: int  # without gradient checkpointing
    checkpointed_bytes: int  # with it
    forward_flops: int


def measure_activations(
    base_model: str, size: int, batch: int, autocast: bool, text_encoder: bool
) -> Activations:
    """The UNet's (and, with `text_encoder`, the encoder's) activations at `size` px."""
    key = json.dumps([table_key(base_model), size, batch, autocast, text_encoder])
    path = cache_dir() / "activations.json"
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if key not in cached:
        cached[key] = asdict(_measure(base_model, size, batch, autocast, text_encoder))
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
            json.dump(cached, handle)
        os.replace(handle.name, path)
    return Activations(**cached[key])


def _measure(base_model, size, batch, autocast, text_encoder) -> Activations:
    import torch
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.transformers.transformer_2d import Transformer2DModel
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.multiprocessing.reductions import StorageWeakRef
    from torch.utils.flop_counter import FlopCounterMode

    from stylesweep.plan.tensors import meta_components

    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        modules = meta_components(base_model, device="cpu")
        unet, encoder = modules["unet"], modules["text_encoder"]
        owned = {
            StorageWeakRef(p.untyped_storage()).cdata
            for m in (unet, encoder)
            for p in m.parameters()
        }
        seen: set[int] = set()
        totals = {"all": 0, "inside": 0}
        units: list[dict] = []
        depth = [0]

        def pack(tensor):
            storage = tensor.untyped_storage()
            ref = StorageWeakRef(storage).cdata
            if ref not in owned and ref not in seen:
                seen.add(ref)
                totals["all"] += storage.nbytes()
                if depth[0] and units:
                    units[-1]["inside"] += storage.nbytes()
            return tensor

        def enter(module, args):
            if depth[0] == 0:
                first = args[0]
                units.append({"input": first.numel() * first.element_size(), "inside": 0})
            depth[0] += 1

        def leave(module, args, output):
            depth[0] -= 1

        for module in unet.modules():
            if isinstance(module, (ResnetBlock2D, Transformer2DModel)):
                module.register_forward_pre_hook(enter)
                module.register_forward_hook(leave)
        unet.requires_grad_(True).train()
        encoder.requires_grad_(text_encoder)
        latent = size // 8
        tokens = torch.zeros(batch, 77, dtype=torch.long)
        noisy = torch.randn(batch, unet.config.in_channels, latent, latent)
        timesteps = torch.zeros(batch, dtype=torch.long)
        counter = FlopCounterMode(display=False)
        with (
            counter,
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast),
        ):
            states = encoder(tokens)[0]
            unet(noisy, timesteps, states)
        del mode
    inside = sum(unit["inside"] for unit in units)
    kept = totals["all"] - inside + sum(unit["input"] for unit in units)
    largest = max((unit["inside"] for unit in units), default=0)
    return Activations(
        saved_bytes=totals["all"],
        checkpointed_bytes=kept + largest,
        forward_flops=counter.get_total_flops(),
    )


@dataclass(frozen=True)
class Memory:
    """Peak GPU memory of one training run, by kind, in bytes."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    overhead: int = CUDA_OVERHEAD

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.overhead


def encoder_trains(settings: dict) -> bool:
    """Whether a run trains (and so backpropagates through) the text encoder at some step."""
    method = settings["method"]
    if method == "dreambooth":
        return text_encoder_steps(settings) > 0
    return method == "textual_inversion" or bool(settings["lora_text_encoder"])


def trainable_shapes(tables: dict, settings: dict) -> list[list[int]]:
    """The shapes of the tensors a run's optimizer holds (stylesweep.methods)."""
    method = settings["method"]
    tensors = tables["tensors"]
    if method == "dreambooth":
        shapes = [shape for _, shape in tensors["unet"]]
        if encoder_trains(settings):
            shapes += [shape for _, shape in tensors["text_encoder"]]
        return shapes
    if method == "textual_inversion":  # the whole embedding table is the parameter
        return [shape for name, shape in tensors["text_encoder"] if "token_embedding" in name]
    rank = settings["lora_rank"]
    parts = ["unet"] + (["text_encoder"] if settings["lora_text_encoder"] else [])
    return [
        shape
        for part in parts
        for _, fan_in, fan_out in tables["lora"][part]
        for shape in ([rank, fan_in], [fan_out, rank])
    ]


def optimizer_bytes(shapes: list[list[int]], optimizer: str) -> int:
    if optimizer == "adamw":
        return sum(numel(s) for s in shapes) * ADAM_BYTES
    return int(
        sum(numel(s) * (ADAM8BIT_BYTES if numel(s) >= BNB_MIN_8BIT else ADAM_BYTES) for s in shapes)
    )


def training_memory(tables: dict, settings: dict, base_model: str, resolution: int) -> Memory:
    """The peak of one training step of a run with `settings` (a run of the sweep)."""
    from stylesweep.plan.tensors import parameters

    shapes = trainable_shapes(tables, settings)
    trainable = sum(numel(s) for s in shapes)
    # The UNet and text encoder stay on the GPU in fp32 (the VAE is not loaded: the
    # latents are encoded once); LoRA adds its adapters.
    resident = parameters(tables, "unet") + parameters(tables, "text_encoder")
    if settings["method"] == "lora":
        resident += trainable
    rows = settings["batch_size"] * (2 if prior_loss_weight(settings) else 1)  # + class images
    measured = measure_activations(
        base_model, resolution, rows, settings["mixed_precision"] != "no", encoder_trains(settings)
    )
    activations = (
        measured.checkpointed_bytes if settings["gradient_checkpointing"] else measured.saved_bytes
    )
    return Memory(
        weights=resident * 4,
        gradients=trainable * 4,
        optimizer=optimizer_bytes(shapes, settings["optimizer"]),
        activations=activations,
    )


def sampling_memory(
    tables: dict, base_model: str, size: int, batch: int, keep_base: bool = False
) -> Memory:
    """The peak of a sampling job (stylesweep.sample): fp16 weights on a GPU, a batch and its
    CFG half through the UNet, then the VAE decoding a few images at a time. With
    `keep_base` (DreamBooth at a strength other than 1), a copy of the base UNet and text
    encoder to blend with (stylesweep.strength).

    Without autograd nothing is kept for a backward pass; what lives at once is about what
    gradient checkpointing keeps (the UNet's skip connections and one block at work), and the
    VAE's widest layers at full resolution (128 channels, a handful of them at once).
    """
    from stylesweep.plan.tensors import parameters
    from stylesweep.sample import VAE_BATCH

    weights = sum(parameters(tables, part) for part in ("unet", "vae", "text_encoder")) * 2
    if keep_base:
        weights += sum(parameters(tables, part) for part in ("unet", "text_encoder")) * 2
    unet = measure_activations(base_model, size, 2 * batch, True, False).checkpointed_bytes
    vae = 6 * 128 * size * size * 2 * min(batch, VAE_BATCH)
    return Memory(weights=weights, gradients=0, optimizer=0, activations=max(unet, vae))
