"""The tensors of a base model's components, from their configs alone.

Each component is built on PyTorch's meta device (shapes, no memory, no weights read) by
the same diffusers and transformers classes that load it, so every name and shape is the
library's own. The tables are cached by the configs' content and the libraries' versions
(building SD 1.5 on the meta device costs the seconds of importing diffusers).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from importlib.metadata import version
from pathlib import Path

from stylesweep.sources import (
    BUILTIN_SD15_RANDOM,
    BUILTIN_TINY,
    BUILTIN_TOY,
    HUB_ID,
    SD15_CONFIGS,
    is_single_file,
    resolve_base_model,
)

PARTS = ("unet", "vae", "text_encoder")
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "I8": 1}
PRECISION_DTYPES = {"fp32": "F32", "fp16": "F16", "bf16": "BF16"}

Table = dict[str, list]  # part: [[name, shape], ...] (floating point, fp32 as built)


def cache_dir() -> Path:
    """Where computed tables are kept: $STYLESWEEP_CACHE, else the user's cache folder."""
    root = os.environ.get("STYLESWEEP_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(root or Path.home() / ".cache") / "stylesweep" / "plan"


def config_folder(base_model: str) -> Path | None:
    """The folder whose unet/, vae/ and text_encoder/ configs describe `base_model`, or None
    for builtin:tiny (its configs live in stylesweep.base's code).

    A single file or a hub id is counted as SD 1.5 (the shipped configs); a folder must be
    a model folder the workflow accepts, and gets its message otherwise.
    """
    from stylesweep.toy.configs import SHIPPED

    if base_model == BUILTIN_TINY:
        return None
    if base_model == BUILTIN_TOY:
        return SHIPPED / "model"
    if base_model == BUILTIN_SD15_RANDOM or is_single_file(base_model):
        return SD15_CONFIGS
    if not Path(base_model).exists() and HUB_ID.match(base_model):
        return SD15_CONFIGS  # a hub id: SD 1.5's shapes (resolving it needs the cache)
    return resolve_base_model(base_model)  # a folder, or the workflow's message


def table_key(base_model: str) -> str:
    folder = config_folder(base_model)
    digest = hashlib.sha256()
    for library in ("torch", "diffusers", "transformers", "peft"):
        digest.update(f"{library}={version(library)};".encode())
    if folder is None:
        digest.update(base_model.encode())
        digest.update((Path(__file__).parents[1] / "base.py").read_bytes())  # its configs
    else:
        for part in PARTS:
            digest.update((folder / part / "config.json").read_bytes())
    return digest.hexdigest()[:24]


def meta_components(base_model: str, device: str = "meta") -> dict:
    """The UNet, VAE and text encoder of `base_model` on the meta device (or `device`, under
    a FakeTensorMode)."""
    import torch

    from stylesweep.base import (
        AutoencoderKL,
        CLIPTextConfig,
        CLIPTextModel,
        UNet2DConditionModel,
        tiny_components,
    )

    folder = config_folder(base_model)
    with torch.device(device):
        if folder is None:
            unet, vae, text_encoder = tiny_components()
        else:
            unet = UNet2DConditionModel.from_config(
                UNet2DConditionModel.load_config(folder / "unet")
            )
            vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
            text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder}


def config_bytes(module) -> int:
    """The size of the config.json that saving `module` writes (stylesweep.checkpoints)."""
    with tempfile.TemporaryDirectory() as folder:
        if hasattr(module.config, "save_pretrained"):
            module.config.save_pretrained(folder)
        else:
            module.save_config(folder)
        return (Path(folder) / "config.json").stat().st_size


def lora_table(unet, text_encoder) -> dict[str, list]:
    """The layers LoRA adapts: [module name, in features, out features] of each."""
    from stylesweep.methods import LORA_TEXT_TARGETS, LORA_UNET_TARGETS

    def targets(module, names: list[str]) -> list:
        return [
            [name, layer.in_features, layer.out_features]
            for name, layer in module.named_modules()
            if any(name == t or name.endswith("." + t) for t in names)
            and hasattr(layer, "in_features")
        ]

    return {
        "unet": targets(unet, LORA_UNET_TARGETS),
        "text_encoder": targets(text_encoder, LORA_TEXT_TARGETS),
    }


def component_tables(base_model: str) -> dict:
    """{"tensors": {part: [[name, shape], ...]}, "config_bytes": {part: n},
    "lora": {part: [[module, in, out], ...]}} of `base_model`, cached."""
    path = cache_dir() / f"{table_key(base_model)}.json"
    if path.is_file():
        return json.loads(path.read_text())
    modules = meta_components(base_model)
    table = {
        "tensors": {
            part: [
                [name, list(t.shape)]
                for name, t in module.state_dict().items()
                if t.is_floating_point()
            ]
            for part, module in modules.items()
        },
        "config_bytes": {part: config_bytes(module) for part, module in modules.items()},
        "lora": lora_table(modules["unet"], modules["text_encoder"]),
        "sample_size": modules["unet"].config.sample_size,
        "vae_scale": 2 ** (len(modules["vae"].config.block_out_channels) - 1),
        "text_width": modules["text_encoder"].config.hidden_size,
        "cross_attention_dim": modules["unet"].config.cross_attention_dim,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
        json.dump(table, handle)
    os.replace(handle.name, path)
    return table


def numel(shape: list[int]) -> int:
    return math.prod(shape)


def parameters(tables: dict, part: str) -> int:
    return sum(numel(shape) for _, shape in tables["tensors"][part])


def safetensors_bytes(entries: list[tuple[str, str, list[int]]], metadata: dict | None) -> int:
    """The exact size of a .safetensors file of `entries` (name, dtype, shape).

    The layout of the format (its README): an 8-byte length, a compact JSON header padded
    with spaces to a multiple of 8 (metadata first, then the tensors by alignment and name),
    then the data.
    """
    ordered = sorted(entries, key=lambda e: (-DTYPE_BYTES[e[1]], e[0]))
    header: dict = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, dtype, shape in ordered:
        size = numel(shape) * DTYPE_BYTES[dtype]
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = len(json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode())
    return 8 + text + (-text) % 8 + offset
