"""Exports for AUTOMATIC1111 and ComfyUI: a single-file checkpoint, a textual-inversion
embedding, a kohya-format LoRA.

DreamBooth: the whole model (base VAE included) as one `.safetensors` in the original SD 1.5
layout (stylesweep.single_file), fp16 by default as A1111 users share them.

Textual inversion: `<key>.safetensors` holding `emb_params` ([vectors, width]); A1111 takes the
file name as the word that calls it. LoRA: kohya's key layout (`lora_unet_...`,
`lora_te1_text_model_...`) with an `alpha` per layer and kohya's `ss_*` training metadata.
All three load back with diffusers (`from_single_file`, `load_textual_inversion`,
`load_lora_weights`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from stylesweep import __version__
from stylesweep.base import load_components
from stylesweep.checkpoints import ADAPTER, EMBEDDINGS, apply_checkpoint, read_manifest
from stylesweep.files import write_safetensors
from stylesweep.keys import BadKey, check_file_name
from stylesweep.single_file import DTYPES, save_single_file
from stylesweep.sweep import export_stem


class ExportError(ValueError):
    """A checkpoint that cannot be exported."""


def export_checkpoint(
    base_dir: str | Path,
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    precision: str | None,
) -> Path:
    """Write the export of one checkpoint into out_dir; return the file written.

    `precision` (fp16 or fp32) applies to the single-file DreamBooth checkpoint; other
    methods pass None.
    """
    manifest = read_manifest(checkpoint_dir)
    method = manifest.get("method", "dreambooth")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if method == "textual_inversion":
        return export_embedding(checkpoint_dir, manifest, Path(out_dir))
    if method == "lora":
        return export_lora(base_dir, checkpoint_dir, manifest, Path(out_dir))
    if method == "dreambooth":
        return export_single_file(base_dir, checkpoint_dir, manifest, Path(out_dir), precision)
    raise ExportError(f"{checkpoint_dir}: no export for training method {method!r}")


def export_single_file(
    base_dir: str | Path, checkpoint_dir: str | Path, manifest: dict, out_dir: Path, precision: str
) -> Path:
    if precision not in DTYPES:
        raise ExportError(f"export.precision {precision!r}: use one of {', '.join(DTYPES)}")
    components = load_components(base_dir)
    apply_checkpoint(components, checkpoint_dir)
    path = out_dir / f"{export_stem(manifest['run'], manifest['step'])}.safetensors"
    metadata = {**_metadata(manifest), "stylesweep_key": manifest["settings"]["key"]}
    return save_single_file(components, path, dtype=precision, metadata=metadata)


def export_embedding(checkpoint_dir: str | Path, manifest: dict, out_dir: Path) -> Path:
    key = manifest["settings"]["key"]
    try:  # the key becomes the file name: `AC/DC` or `../x` would write elsewhere
        check_file_name(key)
    except BadKey as error:
        raise ExportError(f"{checkpoint_dir}: {error}") from None
    vectors = load_file(str(Path(checkpoint_dir) / EMBEDDINGS))[key]
    path = out_dir / f"{key}.safetensors"
    return write_safetensors(path, {"emb_params": vectors.contiguous()}, _metadata(manifest))


def export_lora(
    base_dir: str | Path, checkpoint_dir: str | Path, manifest: dict, out_dir: Path
) -> Path:
    # diffusers' PEFT-to-kohya converter wants PEFT keys, so the adapters are loaded first
    from diffusers.utils import convert_state_dict_to_kohya
    from peft.utils import get_peft_model_state_dict

    components = load_components(base_dir)
    apply_checkpoint(components, checkpoint_dir)
    peft = {}
    for part in ("unet", "text_encoder"):
        module = getattr(components, part)
        if ADAPTER not in getattr(module, "peft_config", {}):
            continue  # no adapters here (lora_text_encoder: false): a UNet-only LoRA
        state = get_peft_model_state_dict(module, adapter_name=ADAPTER)
        for key, value in state.items():
            if part == "text_encoder" and not key.startswith("text_model."):
                key = "text_model." + key  # kohya names CLIP's modules as transformers 4 did
            peft[f"{part}.{key}"] = value
    kohya = convert_state_dict_to_kohya(peft)
    settings = manifest["settings"]
    for key in kohya:  # the converter writes alpha = rank; ours may differ
        if key.endswith(".alpha"):
            kohya[key] = torch.tensor(float(settings["lora_alpha"]))
    path = out_dir / f"{export_stem(manifest['run'], manifest['step'])}.safetensors"
    metadata = {
        **_metadata(manifest),
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(settings["lora_rank"]),
        "ss_network_alpha": str(settings["lora_alpha"]),
        "ss_network_dropout": str(settings["lora_dropout"]),
        "ss_base_model_version": "sd_v1",
        "ss_v2": "False",
        "ss_steps": str(manifest["step"]),
        "ss_learning_rate": str(settings["learning_rate"]),
        "ss_lr_scheduler": settings["lr_schedule"],
        "ss_seed": str(settings["seed"]),
        "ss_output_name": path.stem,
        "ss_sd_model_name": Path(str(manifest["base_model"])).name,
        "ss_training_comment": f"trigger: {settings['key']}",
    }
    return write_safetensors(path, {k: v.contiguous() for k, v in kohya.items()}, metadata)


def _metadata(manifest: dict) -> dict[str, str]:
    return {
        "stylesweep_version": __version__,
        "stylesweep_run": manifest["run"],
        "stylesweep_step": str(manifest["step"]),
        "stylesweep_base_model_hash": manifest["base_model_hash"],
    }
