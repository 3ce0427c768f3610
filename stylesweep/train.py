"""Fine-tuning, one segment (between two checkpoint steps) at a time.

Methods: `dreambooth` trains the UNet, and the text encoder for the first
`text_encoder_steps` steps (then it freezes, and every later checkpoint carries that frozen
encoder); `textual_inversion` trains only the vectors of a new token, the key; `lora` trains
low-rank adapters (peft) on the UNet's attention, and optionally on the text encoder's.

Every step draws its images, flips, noise, timesteps and caption templates from a generator
seeded by (seed, step), the learning rate is a function of the step, and the optimizer state
is saved with each checkpoint, so a run trained in segments ends exactly where the same run
trained in one go would (on CPU).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.optimization import get_scheduler
from diffusers.training_utils import compute_snr
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from stylesweep.base import Components, load_components, model_hash
from stylesweep.checkpoints import (
    ADAPTER,
    add_key_tokens,
    apply_checkpoint,
    input_embeddings,
    key_tokens,
    save_checkpoint,
)
from stylesweep.files import atomic_path, read_json, write_text
from stylesweep.versions import package_versions

log = logging.getLogger(__name__)

METHODS = ("dreambooth", "textual_inversion", "lora")
LORA_UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
LORA_TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
LR_SCHEDULES = ("constant", "polynomial", "cosine", "linear")
OPTIMIZERS = ("adamw", "adamw8bit")
CAPTIONS = ("instance", "filename", "sidecar")
# Captions for textual inversion of a style, after the templates of the TI paper.
STYLE_TEMPLATES = (
    "a painting in the style of {}",
    "a rendering in the style of {}",
    "a picture in the style of {}",
    "an image in the style of {}",
    "a still in the style of {}",
    "a frame in the style of {}",
    "an abstract work in the style of {}",
    "art in the style of {}",
)


class TrainingError(RuntimeError):
    """Training cannot go on; the message says which setting to change."""


@dataclass(frozen=True)
class TrainSettings:
    """What the steps of one segment depend on (see stylesweep.sweep.segment_settings)."""

    key: str
    instance_prompt: str
    learning_rate: float
    batch_size: int
    seed: int
    method: str = "dreambooth"
    text_encoder_steps: int = 0
    lr_schedule: str = "constant"
    lr_warmup_steps: int = 0
    lr_horizon: int | None = None  # the step count a decaying schedule spans
    noise_offset: float = 0.0
    snr_gamma: float | None = None
    random_flip: bool = False
    captions: str = "instance"
    num_vectors: int = 1
    init_word: str = "art"
    lora_rank: int = 8
    lora_alpha: float = 8.0
    lora_dropout: float = 0.0
    lora_text_encoder: bool = False
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    mixed_precision: str = "no"  # no, bf16 or fp16 (fp16 on a GPU only)
    optimizer: str = "adamw"  # or adamw8bit (bitsandbytes)
    prior_loss_weight: float = 0.0  # > 0: prior preservation with the class images
    class_prompt: str = ""

    @property
    def prompt(self) -> str:
        return self.instance_prompt.format(key=self.key)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random source of one training step, independent of how the run was segmented."""
    return torch.Generator("cpu").manual_seed(seed * 1_000_003 + step)


def lr_factor(settings: TrainSettings):
    """The learning-rate multiplier after a number of steps, from diffusers' schedules."""
    if settings.lr_schedule not in LR_SCHEDULES:
        raise TrainingError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
    name = settings.lr_schedule
    if name == "constant" and settings.lr_warmup_steps:
        name = "constant_with_warmup"
    # A throwaway optimizer: only the schedule's step -> factor function is wanted here.
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler(
        name,
        dummy,
        num_warmup_steps=settings.lr_warmup_steps,
        num_training_steps=settings.lr_horizon or 1,
    )
    return scheduler.lr_lambdas[0]


def captions_for(settings: TrainSettings, images: list[dict]) -> list[str]:
    """One caption per training image, by the configured convention."""
    if settings.captions not in CAPTIONS:
        raise TrainingError(f"train.captions must be one of {', '.join(CAPTIONS)}")
    if settings.captions == "filename":
        return [entry["filename_caption"] or settings.prompt for entry in images]
    if settings.captions == "sidecar":
        missing = [entry["source"] for entry in images if not entry.get("caption")]
        if missing:
            log.warning(
                "%d images have no caption file; they use %r", len(missing), settings.prompt
            )
        return [entry.get("caption") or settings.prompt for entry in images]
    return [settings.prompt] * len(images)


@torch.no_grad()
def encode_dataset(base_dir: str | Path, dataset_dir: str | Path, out_path: str | Path) -> None:
    """VAE latent distributions (mean, std) of every dataset image, computed once per base model."""
    import numpy as np
    from PIL import Image

    components = load_components(base_dir)
    manifest = read_json(Path(dataset_dir) / "manifest.json")
    latents: dict[str, list[torch.Tensor]] = {
        "mean": [],
        "std": [],
        "mean_flip": [],
        "std_flip": [],
    }
    for entry in tqdm(manifest["images"], desc="encoding dataset", unit="img"):
        with Image.open(Path(dataset_dir) / entry["file"]) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        pixels = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        for suffix, view in (("", pixels), ("_flip", pixels.flip(-1))):
            dist = components.vae.encode(view).latent_dist
            latents["mean" + suffix].append(dist.mean[0])
            latents["std" + suffix].append(dist.std[0])
    with atomic_path(out_path) as tmp:
        save_file(
            {name: torch.stack(values).contiguous() for name, values in latents.items()},
            str(tmp),
            metadata={"images": json.dumps(manifest["images"])},
        )


def train_segment(
    *,
    base_dir: str | Path,
    latents_path: str | Path,
    settings: TrainSettings,
    start_step: int,
    end_step: int,
    previous_checkpoint: str | Path | None,
    previous_state: str | Path | None,
    checkpoint_dir: str | Path,
    state_path: str | Path,
    loss_path: str | Path,
    run_name: str,
    device: str = "cpu",
    class_latents_path: str | Path | None = None,
) -> list[float]:
    """Train steps start_step+1 .. end_step and save the checkpoint and resume state.

    With `settings.prior_loss_weight` > 0, every batch also holds as many class images
    (from `class_latents_path`) under `settings.class_prompt`, and their loss is added with
    that weight.
    """
    if settings.method not in METHODS:
        raise TrainingError(f"train.method must be one of {', '.join(METHODS)}")
    prior = settings.prior_loss_weight > 0
    if prior and settings.method == "textual_inversion":
        raise TrainingError(
            "train.prior_loss_weight: prior preservation is for dreambooth and lora runs; "
            "set it to 0 for textual inversion"
        )
    if prior and class_latents_path is None:
        raise TrainingError("prior preservation needs the class images' latents")
    if end_step <= start_step:
        raise TrainingError(f"segment {start_step}..{end_step} is empty")
    torch.use_deterministic_algorithms(True, warn_only=True)
    components = load_components(base_dir)
    warn_if_key_is_known(components, settings)
    textual_inversion = settings.method == "textual_inversion"
    if textual_inversion:
        token_ids = add_key_tokens(components, key_tokens(settings.key, settings.num_vectors))
        init_embedding(components, token_ids, settings.init_word)
    lora = settings.method == "lora"
    if lora:
        components.unet.requires_grad_(False)
        components.text_encoder.requires_grad_(False)
        if previous_checkpoint is None:
            add_lora(components, settings)
    if previous_checkpoint is not None:
        apply_checkpoint(components, previous_checkpoint)
    unet, text_encoder = components.unet.to(device), components.text_encoder.to(device)
    scheduler = components.noise_scheduler

    latents = load_file(str(latents_path))
    with safe_open(str(latents_path), "pt") as handle:  # the image list rides in its metadata
        captions = captions_for(settings, json.loads(handle.metadata()["images"]))
    class_latents = load_file(str(class_latents_path)) if prior else {}
    scaling = components.vae.config.scaling_factor
    del components.vae

    if textual_inversion:
        unet.requires_grad_(False)
        text_encoder.requires_grad_(False)
        embeddings = input_embeddings(components)
        embeddings.weight.requires_grad_(True)
        groups = [{"params": [embeddings.weight]}]
        frozen_rows = torch.ones(embeddings.weight.shape[0], dtype=torch.bool)
        frozen_rows[token_ids] = False
        original_rows = embeddings.weight.detach()[frozen_rows].clone()
    elif lora:
        for module in (unet, text_encoder):
            for name, parameter in module.named_parameters():
                parameter.requires_grad_(".lora_" in name)
        groups = [
            {"params": [p for p in module.parameters() if p.requires_grad]}
            for module in (unet, text_encoder)
        ]
    else:
        groups = [{"params": list(unet.parameters())}, {"params": list(text_encoder.parameters())}]
    optimizer = make_optimizer(groups, settings)
    previous_scaler = None
    if previous_state is not None:
        state = torch.load(previous_state, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        previous_scaler = state["scaler"]
    if settings.gradient_checkpointing:  # recompute activations in backward: less memory
        unet.enable_gradient_checkpointing()
        # transformers 5 renamed gradient_checkpointing_enable; 4.x only has the old name
        enable = getattr(text_encoder, "activation_checkpointing_enable", None)
        (enable or text_encoder.gradient_checkpointing_enable)()
    factor = lr_factor(settings)

    frozen_embeddings: dict[str, torch.Tensor] = {}
    # Modes set here, after loading: freshly injected adapters start in training mode inside
    # an eval-mode encoder, reloaded ones do not, and dropout must act the same either way.
    unet.train(not textual_inversion)
    text_encoder.train(lora and settings.lora_text_encoder)

    def batch_loss(step: int, generator: torch.Generator) -> torch.Tensor:
        """The loss of one micro-batch, its images, noise and timesteps drawn from `generator`."""
        index = torch.randint(len(captions), (settings.batch_size,), generator=generator)
        flip = torch.rand(settings.batch_size, generator=generator) < 0.5
        flip &= settings.random_flip
        mean = torch.where(
            flip[:, None, None, None], latents["mean_flip"][index], latents["mean"][index]
        )
        std = torch.where(
            flip[:, None, None, None], latents["std_flip"][index], latents["std"][index]
        )
        texts = [captions[i] for i in index.tolist()]
        if prior:  # as many class images, under the class prompt, after the instance images
            count = len(class_latents["mean"])
            drawn = torch.randint(count, (settings.batch_size,), generator=generator)
            mean = torch.cat([mean, class_latents["mean"][drawn]])
            std = torch.cat([std, class_latents["std"][drawn]])
            texts += [settings.class_prompt] * settings.batch_size
        rows = len(texts)
        clean = ((mean + std * torch.randn(mean.shape, generator=generator)) * scaling).to(device)
        noise = torch.randn(clean.shape, generator=generator)
        if settings.noise_offset:
            offset = torch.randn(clean.shape[:2] + (1, 1), generator=generator)
            noise = noise + settings.noise_offset * offset
        noise = noise.to(device)
        timesteps = torch.randint(
            0, scheduler.config.num_train_timesteps, (rows,), generator=generator
        ).to(device)
        noisy = scheduler.add_noise(clean, noise, timesteps)

        if textual_inversion:
            template = torch.randint(
                len(STYLE_TEMPLATES), (settings.batch_size,), generator=generator
            )
            words = " ".join(key_tokens(settings.key, settings.num_vectors))
            texts = [STYLE_TEMPLATES[t].format(words) for t in template.tolist()]
            embedding = text_encoder(tokenize(components, texts, device))[0]
        elif lora and settings.lora_text_encoder:
            embedding = text_encoder(tokenize(components, texts, device))[0]
        elif step <= settings.text_encoder_steps:
            text_encoder.train().requires_grad_(True)
            embedding = text_encoder(tokenize(components, texts, device))[0]
        else:
            text_encoder.eval().requires_grad_(False)
            embedding = torch.cat(
                [frozen_embedding(components, frozen_embeddings, text, device) for text in texts]
            )

        prediction = unet(noisy, timesteps, embedding).sample
        if scheduler.config.prediction_type == "v_prediction":
            target = scheduler.get_velocity(clean, noise, timesteps)
        else:
            target = noise
        loss = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if settings.snr_gamma:
            # min-SNR weighting (Hang et al. 2023), as in the diffusers training examples
            snr = compute_snr(scheduler, timesteps)
            weight = torch.clamp(snr, max=settings.snr_gamma) / snr
            if scheduler.config.prediction_type == "v_prediction":
                weight = weight * snr / (snr + 1)
            loss = loss * weight
        if prior:
            instance, preserved = loss.chunk(2)
            return instance.mean() + settings.prior_loss_weight * preserved.mean()
        return loss.mean()

    amp_dtype = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}[
        settings.mixed_precision
    ]
    device_type = torch.device(device).type
    if amp_dtype is torch.float16 and device_type != "cuda":
        raise TrainingError("train.mixed_precision fp16 needs a CUDA GPU: use bf16 or no")
    scaler = torch.amp.GradScaler("cuda") if amp_dtype is torch.float16 else None
    if scaler is not None and previous_scaler is not None:
        scaler.load_state_dict(previous_scaler)

    losses = []
    try:
        for step in tqdm(
            range(start_step + 1, end_step + 1), desc=f"{run_name} steps", unit="step"
        ):
            generator = step_generator(settings.seed, step)
            torch.manual_seed(settings.seed * 1_000_003 + step)  # LoRA dropout draws from here
            step_loss = 0.0
            for _ in range(settings.gradient_accumulation_steps):
                with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = batch_loss(step, generator) / settings.gradient_accumulation_steps
                if not math.isfinite(loss.item()):
                    raise TrainingError(
                        f"{run_name}: loss became {loss.item()} at step {step}; the last good "
                        f"checkpoint is kept. Lower train.learning_rate (now "
                        f"{settings.learning_rate:g}) and rerun"
                    )
                (scaler.scale(loss) if scaler else loss).backward()
                step_loss += loss.item()
            for group in optimizer.param_groups:
                group["lr"] = settings.learning_rate * factor(step - 1)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if textual_inversion:  # only the key's rows may change
                with torch.no_grad():
                    embeddings.weight[frozen_rows] = original_rows
            losses.append(step_loss)
    except torch.OutOfMemoryError as error:
        raise TrainingError(
            f"{run_name}: the GPU ran out of memory. Lower train.batch_size, set "
            "train.gradient_checkpointing: true and train.mixed_precision: bf16 (or fp16), or "
            "train LoRA instead (train.method: lora)"
        ) from error

    manifest = {
        "run": run_name,
        "step": end_step,
        "method": settings.method,
        "base_model": str(base_dir),
        "base_model_hash": model_hash(base_dir),
        "settings": asdict(settings),
        "versions": package_versions(),
    }
    if textual_inversion:
        manifest["tokens"] = key_tokens(settings.key, settings.num_vectors)
        learned = {settings.key: input_embeddings(components).weight[token_ids].detach()}
        save_checkpoint(components, checkpoint_dir, manifest, learned=learned)
    elif lora:
        save_checkpoint(
            components, checkpoint_dir, manifest, lora=lora_layers(components, settings)
        )
    else:
        manifest["text_encoder_trained_until"] = min(end_step, settings.text_encoder_steps)
        save_checkpoint(components, checkpoint_dir, manifest)
    with atomic_path(state_path) as tmp:
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler else None,
            },
            tmp,
        )
    rows = "".join(f"{start_step + 1 + i},{value!r}\n" for i, value in enumerate(losses))
    write_text(loss_path, "step,loss\n" + rows)
    return losses


def make_optimizer(groups: list[dict], settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW, or bitsandbytes' 8-bit AdamW (optimizer state in 8 bits: a quarter of the memory)."""
    if settings.optimizer not in OPTIMIZERS:
        raise TrainingError(f"train.optimizer must be one of {', '.join(OPTIMIZERS)}")
    if settings.optimizer == "adamw8bit":
        try:
            import bitsandbytes
        except ImportError:
            raise TrainingError(
                "train.optimizer adamw8bit needs bitsandbytes (`pip install bitsandbytes`, "
                "Linux or Windows); or use adamw"
            ) from None
        return bitsandbytes.optim.AdamW8bit(groups, lr=settings.learning_rate, weight_decay=1e-2)
    # fused: one kernel for all parameters instead of a loop over tensors (CPU and CUDA)
    return torch.optim.AdamW(groups, lr=settings.learning_rate, weight_decay=1e-2, fused=True)


def lora_configs(settings: TrainSettings) -> dict[str, LoraConfig]:
    def config(targets: list[str]) -> LoraConfig:
        return LoraConfig(
            r=settings.lora_rank,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            init_lora_weights="gaussian",
            target_modules=targets,
        )

    configs = {"unet": config(LORA_UNET_TARGETS)}
    if settings.lora_text_encoder:
        configs["text_encoder"] = config(LORA_TEXT_TARGETS)
    return configs


def add_lora(components: Components, settings: TrainSettings) -> None:
    """Fresh adapters, initialised from the run's seed."""
    torch.manual_seed(settings.seed)
    for part, config in lora_configs(settings).items():
        # peft's own injection: transformers' add_adapter asks for a newer peft than exists
        inject_adapter_in_model(config, getattr(components, part), adapter_name=ADAPTER)
        getattr(components, part).peft_config = {ADAPTER: config}


def lora_layers(components: Components, settings: TrainSettings) -> dict:
    """The arguments of diffusers' save_lora_weights: adapter tensors and their configs."""
    layers = {}
    for part, config in lora_configs(settings).items():
        state = get_peft_model_state_dict(getattr(components, part), adapter_name=ADAPTER)
        layers[f"{part}_lora_layers"] = convert_state_dict_to_diffusers(state)
        layers[f"{part}_lora_adapter_metadata"] = config.to_dict()
    return layers


def tokenize(components: Components, texts: list[str], device: str) -> torch.Tensor:
    return components.tokenizer(
        texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    ).input_ids.to(device)


def frozen_embedding(
    components: Components, cache: dict[str, torch.Tensor], caption: str, device: str
) -> torch.Tensor:
    """The frozen text encoder's output for a caption, computed once."""
    if caption not in cache:
        with torch.no_grad():
            cache[caption] = components.text_encoder(tokenize(components, [caption], device))[0]
    return cache[caption]


def init_embedding(components: Components, token_ids: list[int], init_word: str) -> None:
    """Start the key's vectors at the embedding of `init_word`'s first token."""
    ids = components.tokenizer(init_word, add_special_tokens=False).input_ids
    if not ids:
        raise TrainingError(f"train.init_word {init_word!r} has no tokens: pick a real word")
    weight = input_embeddings(components).weight
    with torch.no_grad():
        weight[token_ids] = weight[ids[0]].clone()


def warn_if_key_is_known(components: Components, settings: TrainSettings) -> None:
    """A key the model already knows starts out meaning something else."""
    ids = components.tokenizer(settings.key, add_special_tokens=False).input_ids
    if settings.method == "dreambooth" and len(ids) == 1:
        log.warning(
            "train.key %r is a single token the model already knows; a rare made-up word "
            "(like 'vsynth' or 'sks') keeps its old meaning from leaking into the style",
            settings.key,
        )
