"""Render every prompt variant x seed x CFG scale of one model, reusing what is already rendered.

Images are stored under a name that carries a hash of their full recipe (model weights,
prompt, negative prompt, seed, CFG scale, sampler settings), so adding a seed renders only
that seed's images, and an image whose recipe did not change is never rendered twice.
Each image's noise comes from its own CPU generator seeded with its seed, so an image is
the same whichever batch it is rendered in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path

import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
)
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from tqdm import tqdm

from stylesweep import __version__
from stylesweep.base import load_components
from stylesweep.checkpoints import apply_checkpoint, read_manifest, verify_sizes
from stylesweep.conditioning import WRAP_LENGTH, encode_prompts, tokenize_weighted
from stylesweep.files import atomic_path, write_json
from stylesweep.prompts import infotext, with_lora
from stylesweep.settings import SampleSettings
from stylesweep.strength import apply_strength, base_weights
from stylesweep.sweep import export_stem, model_label, run_and_step

log = logging.getLogger(__name__)

# AUTOMATIC1111 sampler names and the diffusers scheduler settings that match them.
SAMPLERS = {
    "Euler": (EulerDiscreteScheduler, {}),
    "Euler a": (EulerAncestralDiscreteScheduler, {}),
    "DPM++ 2M": (DPMSolverMultistepScheduler, {}),
    "DPM++ 2M Karras": (DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
    "DDIM": (DDIMScheduler, {}),
}


VAE_BATCH = 8  # images decoded at once: the VAE at 512 px needs far more memory than the UNet


class SamplingError(ValueError):
    """Sampling settings that cannot be used."""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides one image."""

    model: str
    model_hash: str
    variant: str
    prompt: str
    negative: str
    seed: int
    cfg_scale: float
    sampler: str
    steps: int
    width: int
    height: int
    clip_skip: int
    emphasis: str = "a1111"
    wrap_length: int = WRAP_LENGTH  # A1111's "Prompt word wrap length limit"
    pad_conds: bool = False  # A1111's "Pad prompt/negative prompt"
    strength: float | None = None  # a checkpoint's strength (stylesweep.strength); base: None
    lora_name: str = ""  # a LoRA's name in A1111's <lora:NAME:strength>

    def key(self) -> str:
        fields = asdict(self)
        for label in ("model", "variant", "lora_name"):
            fields.pop(label)  # the weights' hash identifies the model; names are labels
        if fields["strength"] in (None, 1.0):
            # the base model, and a checkpoint as trained, hash as they did before strengths:
            # a sweep from before them keeps its images
            fields.pop("strength")
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def file_name(self) -> str:
        return f"{self.variant}/seed{self.seed}_cfg{self.cfg_scale:g}_{self.key()}.png"


def sampler_settings(name: str) -> tuple[type, dict]:
    """The diffusers scheduler class and overrides for an AUTOMATIC1111 sampler name."""
    if name not in SAMPLERS:
        raise SamplingError(f"unknown sampler {name!r}: use one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def make_scheduler(name: str, config):
    cls, overrides = sampler_settings(name)
    return cls.from_config(config, **overrides)


class GridRenderer:
    """Renders recipes with one model, batching mixed prompts and CFG scales into few UNet calls.

    Diffusers' pipeline takes one guidance scale and one prompt batch per call, so a grid of
    seeds x CFG scales x prompt variants would cost one call per (variant, scale). The loop
    here is the pipeline's own (same scheduler calls, same noise, same guidance formula) with
    a guidance scale per image, the unconditional and conditional halves in one UNet batch.
    When a prompt and its negative have different lengths (without `pad_conds`, as in
    A1111), the halves run as two UNet calls; images batch only with images of the same two
    lengths, so an image is rendered the same way whichever grid it belongs to.
    The VAE and tokenizer stay loaded; `use_checkpoint` swaps trained weights in place and
    keeps prompt embeddings while the text encoder is unchanged.
    """

    def __init__(self, base_dir: str | Path, device: str = "cpu", keep_base: bool = False):
        self.components = load_components(base_dir)
        self.device = torch.device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        for module in (self.components.unet, self.components.vae, self.components.text_encoder):
            module.to(self.device, self.dtype).eval().requires_grad_(False)
        self.scheduler_config = self.components.noise_scheduler.config
        self.image_processor = VaeImageProcessor(vae_scale_factor=8)
        self.text_encoder_id = "base"
        self.embeddings: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.padded: dict[tuple, bool] = {}  # whether "Pad conds" padded an embedding pair
        self.key_words: tuple[str, str] | None = None
        self.unet_calls = 0
        # DreamBooth checkpoints at a strength other than 1 are blended with these
        self.base_weights = base_weights(self.components) if keep_base else None

    def use_checkpoint(self, checkpoint_dir: str | Path, strength: float = 1.0) -> None:
        """Swap in a checkpoint's trained weights at `strength` (stylesweep.strength); reuse
        embeddings if its encoder is the same."""
        manifest = read_manifest(checkpoint_dir)
        hashes = manifest.get("weights_sha256", {})
        text_encoder_id = hashes.get("text_encoder") or hashes.get("embeddings")
        text_encoder_id = f"{text_encoder_id or checkpoint_dir}@{strength!r}"
        parts = None if text_encoder_id != self.text_encoder_id else ("unet",)
        apply_checkpoint(self.components, checkpoint_dir, parts=parts)
        apply_strength(self.components, manifest, strength, self.base_weights,
                       parts=parts or ("unet", "text_encoder"))  # fmt: skip
        self.components.unet.eval()  # adapters a checkpoint brings in render without dropout
        self.components.text_encoder.eval()
        if text_encoder_id != self.text_encoder_id:
            self.embeddings.clear()
            self.padded.clear()
            self.text_encoder_id = text_encoder_id
        # A learned key of several vectors is written as its tokens one after the other.
        tokens = manifest.get("tokens", [])
        self.key_words = (tokens[0], " ".join(tokens)) if len(tokens) > 1 else None

    def condition(self, prompt: str) -> torch.Tensor:
        """The text embedding of `prompt` alone, as this model reads it in a grid (a learned
        key expanded, CLIP skip 1, A1111's emphasis): for the validation loss."""
        recipe = Recipe(
            model="", model_hash="", variant="", prompt=prompt, negative="", seed=0,
            cfg_scale=1.0, sampler="Euler", steps=1, width=8, height=8, clip_skip=1,
        )  # fmt: skip
        return self._embed(recipe)[0]

    def _embed_key(self, recipe: Recipe) -> tuple:
        return (recipe.prompt, recipe.negative, recipe.clip_skip, recipe.emphasis,
                recipe.wrap_length, recipe.pad_conds)  # fmt: skip

    def _embed(self, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
        key = self._embed_key(recipe)
        if key not in self.embeddings:
            prompt = recipe.prompt
            if self.key_words:
                word, expanded = self.key_words
                # in any case, as the tokenizer reads it (CLIP lowercases every prompt)
                pattern = rf"(?<![\w]){re.escape(word)}(?![\w])"
                prompt = re.sub(pattern, expanded, prompt, flags=re.IGNORECASE)
            tokenizer = self.components.tokenizer
            self.embeddings[key] = encode_prompts(
                prompt,
                recipe.negative,
                tokenizer,
                self.components.text_encoder,
                recipe.clip_skip,
                recipe.emphasis,
                recipe.wrap_length,
                recipe.pad_conds,
            )
            self.padded[key] = recipe.pad_conds and len(
                tokenize_weighted(prompt, tokenizer, recipe.wrap_length)
            ) != len(tokenize_weighted(recipe.negative, tokenizer, recipe.wrap_length))
        return self.embeddings[key]

    @torch.no_grad()
    def render(self, recipes: list[Recipe], out_dir: str | Path, batch_size: int = 8) -> int:
        """Render the recipes whose image is missing in out_dir; return how many were rendered."""
        out_dir = Path(out_dir)
        pending = [r for r in recipes if not (out_dir / r.file_name()).is_file()]
        if not pending:
            return 0

        def batch_key(r: Recipe):
            # images batch together when they share the schedule and the sequence lengths
            cond, uncond = self._embed(r)
            return (r.sampler, r.steps, r.width, r.height, r.clip_skip,
                    cond.shape[1], uncond.shape[1])  # fmt: skip

        ordered = sorted(pending, key=lambda r: (batch_key(r), r.variant, r.cfg_scale, r.seed))
        progress = tqdm(total=len(pending), desc="rendering", unit="img")
        for _, group in groupby(ordered, key=batch_key):
            group = list(group)
            for start in range(0, len(group), batch_size):
                batch = group[start : start + batch_size]
                for recipe, image in zip(batch, self.denoise(batch), strict=True):
                    padded = self.padded[self._embed_key(recipe)]
                    save_png(image, out_dir / recipe.file_name(), recipe, padded)
                progress.update(len(batch))
        progress.close()
        return len(pending)

    @torch.no_grad()
    def denoise(
        self, batch: list[Recipe], init: torch.Tensor | None = None, strength: float = 1.0
    ) -> list[Image.Image]:
        """The images of recipes that share sampler, steps and size.

        With `init` (pixels in [-1, 1], one per recipe) this is diffusers' img2img: the first
        (1 - strength) of the schedule is skipped, and the images' latents are noised to
        where the rest begins. `strength` 0 gives back the encoded images.
        """
        first = batch[0]
        unet, vae = self.components.unet, self.components.vae
        scheduler = make_scheduler(first.sampler, self.scheduler_config)
        scheduler.set_timesteps(first.steps, device=self.device)
        timesteps = scheduler.timesteps
        cond = torch.cat([self._embed(r)[0] for r in batch]).to(self.device, self.dtype)
        uncond = torch.cat([self._embed(r)[1] for r in batch]).to(self.device, self.dtype)
        same_length = cond.shape[1] == uncond.shape[1]
        text = torch.cat([uncond, cond]) if same_length else None
        guidance = torch.tensor([r.cfg_scale for r in batch], device=self.device, dtype=self.dtype)
        guidance = guidance[:, None, None, None]
        # each image's noise from its own generator: the same image in any batch
        generators = [torch.Generator("cpu").manual_seed(r.seed) for r in batch]
        shape = (len(batch), unet.config.in_channels, first.height // 8, first.width // 8)
        if init is None:
            latents = randn_tensor(
                shape, generator=generators, device=self.device, dtype=self.dtype
            )
            latents = latents * scheduler.init_noise_sigma
        else:
            timesteps, latents = self._noised_latents(
                scheduler, first.steps, init, strength, generators
            )
        for t in timesteps:
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            if same_length:
                noise = unet(model_input, t, encoder_hidden_states=text, return_dict=False)[0]
                self.unet_calls += 1
                noise_uncond, noise_cond = noise.chunk(2)
            else:  # as A1111 without "Pad conds": each half with its own sequence length
                input_uncond, input_cond = model_input.chunk(2)
                noise_uncond = unet(input_uncond, t, encoder_hidden_states=uncond)[0]
                noise_cond = unet(input_cond, t, encoder_hidden_states=cond)[0]
                self.unet_calls += 2
            noise = noise_uncond + guidance * (noise_cond - noise_uncond)
            latents = scheduler.step(noise, t, latents, generator=generators, return_dict=False)[0]
        decoded = torch.cat(
            [
                vae.decode(part / vae.config.scaling_factor, return_dict=False)[0]
                for part in latents.split(VAE_BATCH)
            ]
        )
        return self.image_processor.postprocess(decoded.float(), output_type="pil")

    def _noised_latents(
        self,
        scheduler,
        steps: int,
        init: torch.Tensor,
        strength: float,
        generators: list[torch.Generator],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The timesteps left and the starting latents of img2img, in the order diffusers'
        StableDiffusionImg2ImgPipeline draws its noise (the latents' sample, then the noise)."""
        vae = self.components.vae
        skipped = steps - min(int(steps * strength), steps)
        timesteps = scheduler.timesteps[skipped * scheduler.order :]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(skipped * scheduler.order)
        pixels = init.to(self.device, self.dtype)
        latents = torch.cat(
            [
                vae.encode(image[None]).latent_dist.sample(generator)
                for image, generator in zip(pixels, generators, strict=True)
            ]
        )
        latents = latents * vae.config.scaling_factor
        if len(timesteps) == 0:
            return timesteps, latents
        noise = randn_tensor(
            latents.shape, generator=generators, device=self.device, dtype=self.dtype
        )
        return timesteps, scheduler.add_noise(latents, noise, timesteps[:1].repeat(len(latents)))


def save_png(image: Image.Image, path: Path, recipe: Recipe, padded: bool = False) -> None:
    """Save with the AUTOMATIC1111 `parameters` text chunk, atomically.

    `padded`: "Pad conds" made the prompt and negative the same length; A1111 writes
    `Pad conds: True` only then.
    """
    prompt = recipe.prompt
    extra = {}
    if recipe.lora_name:  # as A1111 writes a LoRA: in the prompt, which it strips to encode
        prompt = with_lora(prompt, recipe.lora_name, recipe.strength)
    elif recipe.strength is not None:
        extra["Strength"] = f"{recipe.strength:g}"  # A1111 has no field for a merge's weight
    extra |= {
        "Clip skip": str(recipe.clip_skip),
        "Emphasis": {"a1111": "Original", "comfy": "ComfyUI"}[recipe.emphasis],
    }
    if padded:
        extra["Pad conds"] = "True"
    if recipe.wrap_length != WRAP_LENGTH:
        # A1111's option has no infotext label, so A1111 never writes it and ignores this
        # key when pasting; it is written (under the option's name) so the image's recipe
        # is complete.
        extra["Prompt word wrap length limit"] = str(recipe.wrap_length)
    # every image's noise comes from a CPU generator: A1111's "Random number generator
    # source" set to CPU, which it writes as `RNG: CPU` (its default, GPU, goes unwritten)
    extra["RNG"] = "CPU"
    extra["Version"] = f"stylesweep {__version__}"
    info = PngInfo()
    info.add_text(
        "parameters",
        infotext(
            prompt,
            recipe.negative,
            steps=recipe.steps,
            sampler=recipe.sampler,
            cfg_scale=recipe.cfg_scale,
            seed=recipe.seed,
            width=recipe.width,
            height=recipe.height,
            model_hash=recipe.model_hash,
            model_name=recipe.model,
            extra=extra,
        ),
    )
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)


def grid_recipes(
    settings: SampleSettings,
    model: str,
    model_hash: str,
    variants: list[dict],
    strength: float | None = None,
    lora_name: str = "",
) -> list[Recipe]:
    """Every variant x seed x CFG scale of one model at one strength (None: the base model),
    in the grid's order."""
    return [
        Recipe(
            model=model,
            model_hash=model_hash,
            variant=variant["name"],
            prompt=variant["prompt"],
            negative=variant["negative"],
            seed=seed,
            cfg_scale=float(cfg),
            sampler=settings.sampler,
            steps=settings.steps,
            width=settings.size,
            height=settings.size,
            clip_skip=settings.clip_skip,
            emphasis=settings.emphasis,
            wrap_length=settings.wrap_length,
            pad_conds=settings.pad_conds,
            strength=None if strength is None else float(strength),
            lora_name=lora_name,
        )
        for variant in variants
        for seed in settings.seeds
        for cfg in settings.cfg_scales
    ]


def weights_hash_of(checkpoint_dir: str | Path | None, base_hash: str) -> str:
    """The hash of a model's weights: the base's, or a checkpoint's trained parts on top.

    The parts' hashes were recorded when the checkpoint was saved (and their sizes are
    checked here: a damaged file is named, never silently reused).
    """
    if checkpoint_dir is None:
        return base_hash
    parts = json.dumps(verify_sizes(checkpoint_dir)["weights_sha256"], sort_keys=True)
    return hashlib.sha256(f"{parts}+{base_hash}".encode()).hexdigest()


def sample_models(
    *,
    models: dict[str, str | Path | None],
    base_dir: str | Path,
    base_hash: str,
    variants: list[dict],
    settings: SampleSettings,
    batch_size: int,
    manifest_path: str | Path,
    device: str = "cpu",
) -> dict:
    """Render (or reuse) every variant x seed x CFG image of each model at each strength;
    write one manifest.

    `models` maps a model name to its checkpoint folder (None for the base model, which has
    no strength). Images go to `<manifest folder>/<step>/...` for checkpoints at strength 1,
    `<manifest folder>/<step>@<strength>/...` at other strengths and `<manifest folder>/...`
    for the base model. Each manifest entry names its model as scores and tables do
    (`model_label`), with its checkpoint and strength apart.
    """
    sampler_settings(settings.sampler)  # fail on a wrong name before loading any model
    root = Path(manifest_path).parent
    manifests = {m: read_manifest(d) for m, d in models.items() if d is not None}
    # DreamBooth at a strength other than 1 blends with the base weights, kept from the start
    keep_base = any(s != 1 for s in settings.strengths) and any(
        m.get("method", "dreambooth") == "dreambooth" for m in manifests.values()
    )
    renderer: GridRenderer | None = None
    entries, labels, rendered, reused = [], [], 0, 0
    for model, checkpoint_dir in models.items():
        weights_hash = weights_hash_of(checkpoint_dir, base_hash)
        lora_name = ""
        if manifests.get(model, {}).get("method") == "lora":
            lora_name = export_stem(*run_and_step(model))
        for strength in [None] if checkpoint_dir is None else settings.strengths:
            label = model_label(model, strength)
            folder = (
                "" if checkpoint_dir is None else model_label(Path(checkpoint_dir).name, strength)
            )
            out_dir = root / folder
            recipes = grid_recipes(
                settings, model, weights_hash, variants, strength=strength, lora_name=lora_name
            )
            if any(not (out_dir / r.file_name()).is_file() for r in recipes):
                if renderer is None:
                    renderer = GridRenderer(base_dir, device, keep_base=keep_base)
                if checkpoint_dir is not None:
                    renderer.use_checkpoint(checkpoint_dir, float(strength))
                count = renderer.render(recipes, out_dir, batch_size)
            else:
                count = 0
            rendered, reused = rendered + count, reused + len(recipes) - count
            log.info("%s: %d images rendered, %d reused", label, count, len(recipes) - count)
            labels.append(label)
            entries += [
                {
                    "model": label,
                    "checkpoint": model,
                    "strength": r.strength,
                    "model_hash": weights_hash,
                    "variant": r.variant,
                    "seed": r.seed,
                    "cfg_scale": r.cfg_scale,
                    "key": r.key(),
                    **({"lora": lora_name} if lora_name else {}),
                    "file": (out_dir / r.file_name()).relative_to(root).as_posix(),
                }
                for r in recipes
            ]
    manifest = {
        "models": labels,
        "rendered": rendered,
        "reused": reused,
        "unet_calls": renderer.unet_calls if renderer else 0,
        "images": entries,
    }
    write_json(manifest_path, manifest)
    return manifest
