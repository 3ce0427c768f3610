"""Fine-tuning, one segment (between two checkpoint steps) at a time.

The method (DreamBooth, textual inversion, LoRA; stylesweep.methods) decides what trains,
how a batch is conditioned and what a checkpoint holds; the loop here is the same for all.
Every step draws its images, flips, noise, timesteps and caption templates from a generator
seeded by (seed, step), the learning rate is a function of the step, and the optimizer state
is saved with each checkpoint, so a run trained in segments ends exactly where the same run
trained in one go would (on CPU).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from stylesweep.base import load_components
from stylesweep.dataset import training_images
from stylesweep.files import read_safetensors, write_text
from stylesweep.methods import TrainingError, make_method
from stylesweep.resume import latest_state, load_state, prune_states, resume_path, save_state
from stylesweep.settings import TrainSettings
from stylesweep.versions import package_versions

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "polynomial", "cosine", "linear")
OPTIMIZERS = ("adamw", "adamw8bit")
CAPTIONS = ("instance", "filename", "sidecar", "auto")
MIXED_PRECISION = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}
POLYNOMIAL_END = 1e-7  # diffusers' lr_end of its polynomial schedule


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random source of one training step, independent of how the run was segmented."""
    return torch.Generator("cpu").manual_seed(seed * 1_000_003 + step)


def lr_factor(settings: TrainSettings) -> Callable[[int], float]:
    """The learning-rate multiplier after a number of steps.

    The formulas of diffusers' schedules (diffusers.optimization, with an initial rate of 1),
    written out: importing that module for four lines costs seconds of every job's start.
    tests/test_train.py checks them against diffusers' own.
    """
    if settings.lr_schedule not in LR_SCHEDULES:
        raise TrainingError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
    schedule, warmup = settings.lr_schedule, settings.lr_warmup_steps
    horizon = settings.lr_horizon or 1

    def factor(step: int) -> float:
        if schedule == "constant" and not warmup:
            return 1.0
        if step < warmup:
            return float(step) / float(max(1, warmup))
        if schedule == "constant":
            return 1.0
        if schedule == "linear":
            return max(0.0, float(horizon - step) / float(max(1, horizon - warmup)))
        if schedule == "cosine":
            progress = float(step - warmup) / float(max(1, horizon - warmup))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
        if step > horizon:  # polynomial (power 1) down to diffusers' lr_end
            return POLYNOMIAL_END
        remaining = 1 - (step - warmup) / (horizon - warmup)
        return (1.0 - POLYNOMIAL_END) * remaining**1.0 + POLYNOMIAL_END

    return factor


def min_snr(scheduler, timesteps: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio of each timestep, as diffusers.training_utils.compute_snr has it
    (that module imports half of diffusers' training stack)."""
    alphas_cumprod = scheduler.alphas_cumprod
    alpha = (alphas_cumprod**0.5).to(device=timesteps.device)[timesteps].float()
    sigma = ((1.0 - alphas_cumprod) ** 0.5).to(device=timesteps.device)[timesteps].float()
    return (alpha / sigma) ** 2


def captions_for(
    settings: TrainSettings, images: list[dict], captioned: list[dict] | None = None
) -> list[str]:
    """One caption per training image, by the configured convention; `captioned` holds the
    sidecars' or the caption model's training captions (stylesweep.captions)."""
    if settings.method == "textual_inversion":  # captions come from its style templates
        return [""] * len(images)
    if settings.captions not in CAPTIONS:
        raise TrainingError(f"train.captions must be one of {', '.join(CAPTIONS)}")
    if settings.captions == "filename":
        return [entry["filename_caption"] or settings.prompt for entry in images]
    if settings.captions in ("sidecar", "auto"):
        if captioned is None:
            raise TrainingError(f"train.captions: {settings.captions} needs the captions file")
        by_file = {entry["file"]: entry["training_caption"] for entry in captioned}
        # "" is an empty caption file (warned about when read), None no caption
        problems = (
            [("an empty caption file", "", "write their captions in them"),
             ("no caption file", None, "put a .txt caption beside each")]
            if settings.captions == "sidecar"
            else [("no caption from the caption model", None, "see the caption_stills log")]
        )  # fmt: skip
        for problem, caption, fix in problems:
            sources = {e["source"]: None for e in images if by_file.get(e["file"]) == caption}
            if sources:
                shown = ", ".join(list(sources)[:5]) + (", ..." if len(sources) > 5 else "")
                log.warning(
                    "%d stills have %s (%s); they use %r: %s",
                    len(sources), problem, shown, settings.prompt, fix,
                )  # fmt: skip
        return [by_file.get(entry["file"]) or settings.prompt for entry in images]
    return [settings.prompt] * len(images)


def train_segment(
    *,
    base_dir: str | Path,
    base_hash: str,
    latents_path: str | Path,
    settings: TrainSettings,
    start_step: int,
    end_step: int,
    checkpoint_dir: str | Path,
    loss_path: str | Path,
    run_name: str,
    device: str = "cpu",
    class_latents_path: str | Path | None = None,
    captions_path: str | Path | None = None,
    keep_resume: str = "last",
    run_finished: bool = False,
) -> list[float]:
    """Train steps start_step+1 .. end_step, save the checkpoint and the resume state.

    The segment goes on from the run's resume state at `start_step` (stylesweep.resume),
    in `checkpoint_dir`'s parent folder; the state is written for `end_step`, and the run's
    older states are removed unless `keep_resume` is "all". With
    `settings.prior_loss_weight` > 0, every batch also holds as many class images (from
    `class_latents_path`) under `settings.class_prompt`, and their loss is added with that
    weight. `captions_path` holds the training captions of `captions: sidecar` or `auto`
    (stylesweep.captions). With `keep_resume` "none", a `run_finished` segment keeps no
    state at all.
    """
    method = make_method(settings)
    prior = settings.prior_loss_weight > 0
    if prior and class_latents_path is None:
        raise TrainingError("prior preservation needs the class images' latents")
    if end_step <= start_step:
        raise TrainingError(f"segment {start_step}..{end_step} is empty")
    torch.use_deterministic_algorithms(True, warn_only=True)
    run_dir = Path(checkpoint_dir).parent
    components = load_components(base_dir)
    warn_if_key_is_known(components, settings)
    method.prepare(components)
    previous = None
    if start_step:
        state_path = resume_path(run_dir, start_step)
        if not state_path.is_file():
            raise TrainingError(
                f"{run_name}: the resume state of step {start_step} ({state_path}) is missing: "
                "rerun snakemake, which trains it again (or set train.keep_resume: all)"
            )
        previous = load_state(state_path)
        method.load_resume_weights(components, previous[0])
    unet, text_encoder = components.unet.to(device), components.text_encoder.to(device)
    scheduler = components.noise_scheduler

    latents, metadata = read_safetensors(latents_path, fix=remake("encode_dataset"))
    images = json.loads(metadata["images"])  # the dataset's list, held-out images marked
    kept = torch.tensor(training_images(images))  # training draws among these only
    captioned = json.loads(Path(captions_path).read_text())["images"] if captions_path else None
    captions = captions_for(settings, [images[i] for i in kept.tolist()], captioned)
    class_latents = (
        read_safetensors(class_latents_path, fix=remake("render_class_images"))[0] if prior else {}
    )
    scaling = components.vae.config.scaling_factor
    del components.vae

    optimizer = make_optimizer(method.trainable(components, start_step), settings)
    previous_scaler = None
    if previous is not None:
        optimizer.load_state_dict(method.full_optimizer_state(previous[1], components))
        previous_scaler = previous[2]
    if settings.gradient_checkpointing:  # recompute activations in backward: less memory
        unet.enable_gradient_checkpointing()
        # transformers 5 renamed gradient_checkpointing_enable; 4.x only has the old name
        enable = getattr(text_encoder, "activation_checkpointing_enable", None)
        (enable or text_encoder.gradient_checkpointing_enable)()
    factor = lr_factor(settings)

    def batch_loss(step: int, generator: torch.Generator) -> torch.Tensor:
        """The loss of one micro-batch, its images, noise and timesteps drawn from `generator`."""
        picks = torch.randint(len(captions), (settings.batch_size,), generator=generator)
        index = kept[picks]
        flip = torch.rand(settings.batch_size, generator=generator) < 0.5
        flip &= settings.random_flip
        mean = torch.where(
            flip[:, None, None, None], latents["mean_flip"][index], latents["mean"][index]
        )
        std = torch.where(
            flip[:, None, None, None], latents["std_flip"][index], latents["std"][index]
        )
        texts = [captions[i] for i in picks.tolist()]
        if settings.caption_dropout:  # drawn only when on: a run without it keeps its stream
            dropped = (
                torch.rand(settings.batch_size, generator=generator) < settings.caption_dropout
            )
            texts = [
                settings.key if drop else text for drop, text in zip(dropped, texts, strict=True)
            ]
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
        embedding = method.condition(components, texts, step, generator, device)

        prediction = unet(noisy, timesteps, embedding).sample
        if scheduler.config.prediction_type == "v_prediction":
            target = scheduler.get_velocity(clean, noise, timesteps)
        else:
            target = noise
        loss = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if settings.snr_gamma:
            # min-SNR weighting (Hang et al. 2023), as in the diffusers training examples
            snr = min_snr(scheduler, timesteps)
            weight = torch.clamp(snr, max=settings.snr_gamma) / snr
            if scheduler.config.prediction_type == "v_prediction":
                weight = weight * snr / (snr + 1)
            loss = loss * weight
        if prior:
            instance, preserved = loss.chunk(2)
            return instance.mean() + settings.prior_loss_weight * preserved.mean()
        return loss.mean()

    if settings.mixed_precision not in MIXED_PRECISION:
        raise TrainingError(f"train.mixed_precision must be one of {', '.join(MIXED_PRECISION)}")
    amp_dtype = MIXED_PRECISION[settings.mixed_precision]
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
            method.after_step(components)
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
        "base_model_hash": base_hash,
        "settings": asdict(settings),
        "versions": package_versions(),
    }
    # The state first: a checkpoint folder whose manifest is written has its state.
    save_state(
        resume_path(run_dir, end_step),
        method.resume_weights(components),
        method.optimizer_state(optimizer.state_dict(), end_step),
        scaler.state_dict() if scaler else None,
    )
    method.save(components, Path(checkpoint_dir), manifest)
    prune_states(run_dir, end_step, keep_resume, finished=run_finished)
    rows = "".join(f"{start_step + 1 + i},{value!r}\n" for i, value in enumerate(losses))
    write_text(loss_path, "step,loss\n" + rows)
    return losses


def replay_missing_states(
    segments: list[tuple[int, int, TrainSettings]], start_step: int, **common
) -> None:
    """Train again the earlier `segments` (start, end, settings) of a run whose resume state
    at `start_step` was removed, from the latest state there is, writing only their states.

    Only the last state of a run is kept (train.keep_resume: last), so a segment that must
    train again in the middle of a run (its settings changed, or its checkpoint was deleted)
    finds none; the steps before it are replayed to the same weights, on one machine to the
    same bytes, and their checkpoints are not rewritten.
    """
    run_dir = Path(common["checkpoint_dir"]).parent
    if not start_step or resume_path(run_dir, start_step).is_file():
        return
    begin = latest_state(run_dir, start_step)
    todo = [(a, b, s) for a, b, s in segments if a >= begin and b <= start_step]
    log.warning(
        "%s: no resume state at step %d (train.keep_resume: last keeps a run's last one); "
        "training steps %d..%d again to resume exactly",
        common["run_name"], start_step, begin + 1, start_step,
    )  # fmt: skip
    for a, b, settings in todo:
        scratch = run_dir / f".replay-step-{b}"
        try:
            train_segment(
                **{**common, "checkpoint_dir": scratch, "loss_path": scratch / "loss.csv"},
                settings=settings, start_step=a, end_step=b, keep_resume="all",
            )  # fmt: skip
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def remake(rule: str) -> str:
    """What to do about a damaged file that the workflow's `rule` writes."""
    return f"delete it and rerun snakemake (or run `snakemake --forcerun {rule}`)"


def make_optimizer(groups: list[dict], settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW, or bitsandbytes' 8-bit AdamW (optimizer state in 8 bits: a quarter of the memory)."""
    if settings.optimizer not in OPTIMIZERS:
        raise TrainingError(f"train.optimizer must be one of {', '.join(OPTIMIZERS)}")
    if settings.optimizer == "adamw8bit":
        try:
            import bitsandbytes
        except ImportError:
            raise TrainingError(
                "train.optimizer adamw8bit needs bitsandbytes (`pip install -e .[8bit]`, "
                "Linux or Windows); or use adamw"
            ) from None
        return bitsandbytes.optim.AdamW8bit(groups, lr=settings.learning_rate, weight_decay=1e-2)
    # fused: one kernel for all parameters instead of a loop over tensors (CPU and CUDA)
    return torch.optim.AdamW(groups, lr=settings.learning_rate, weight_decay=1e-2, fused=True)


def warn_if_key_is_known(components, settings: TrainSettings) -> None:
    """A key the model already knows starts out meaning something else."""
    ids = components.tokenizer(settings.key, add_special_tokens=False).input_ids
    if settings.method == "dreambooth" and len(ids) == 1:
        log.warning(
            "train.key %r is a single token the model already knows; a rare made-up word "
            "(like 'vsynth') keeps its old meaning from leaking into the style",
            settings.key,
        )
