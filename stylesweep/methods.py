"""The training methods, one object each: what a method trains, how it conditions a batch,
and what its checkpoint holds.

- `DreamBooth` trains the UNet, and the text encoder for its first `text_encoder_steps`
  steps; after that the encoder is frozen and every later checkpoint carries it.
- `TextualInversion` trains only the vectors of a new token, the key.
- `LoRA` trains low-rank adapters (peft) on the UNet's attention, and optionally on the text
  encoder's.

The training loop (stylesweep.train) calls the same five methods on each of them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from stylesweep.base import Components
from stylesweep.checkpoints import (
    ADAPTER,
    add_key_tokens,
    input_embeddings,
    key_tokens,
    save_checkpoint,
)
from stylesweep.settings import TrainSettings

log = logging.getLogger(__name__)

LORA_UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
LORA_TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
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


def tokenize(components: Components, texts: list[str], device: str) -> torch.Tensor:
    return components.tokenizer(
        texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    ).input_ids.to(device)


class FrozenEncoder:
    """The frozen text encoder's output for each caption, computed once."""

    def __init__(self) -> None:
        self.cache: dict[str, torch.Tensor] = {}

    def __call__(self, components: Components, texts: list[str], device: str) -> torch.Tensor:
        for text in texts:
            if text not in self.cache:
                with torch.no_grad():
                    self.cache[text] = components.text_encoder(
                        tokenize(components, [text], device)
                    )[0]
        return torch.cat([self.cache[text] for text in texts])


class DreamBooth:
    """The UNet always; the text encoder until `text_encoder_steps`, then frozen."""

    prior_preservation = True

    def __init__(self, settings: TrainSettings):
        if settings.text_encoder_steps is None:
            raise TrainingError("dreambooth needs text_encoder_steps in its settings")
        self.settings = settings
        self.frozen = FrozenEncoder()

    def prepare(self, components: Components) -> None:
        """Changes to the base model before a resume state is loaded into it."""

    def trainable(self, components: Components, start_step: int) -> list[dict]:
        """The UNet; the text encoder too while it still has steps to train. Once it is
        frozen it leaves the optimizer (and its moments the resume state)."""
        components.unet.train(True)
        components.text_encoder.train(False)
        groups = [{"params": list(components.unet.parameters())}]
        self.encoder_trains = start_step < self.settings.text_encoder_steps
        if self.encoder_trains:
            groups.append({"params": list(components.text_encoder.parameters())})
        return groups

    def resume_weights(self, components: Components) -> dict[str, torch.Tensor]:
        return module_weights(components, ("unet", "text_encoder"))

    def load_resume_weights(self, components: Components, weights: dict) -> None:
        load_module_weights(components, ("unet", "text_encoder"), weights)

    def optimizer_state(self, state: dict, end_step: int) -> dict:
        """The optimizer state to keep: without the text encoder's once it is frozen.

        A segment sees `text_encoder_steps` clipped to its own steps (stylesweep.sweep), so
        one that ends where the encoder stops cannot tell whether it trains on: the state
        keeps its moments then, and the next segment drops them if it is frozen."""
        if end_step <= self.settings.text_encoder_steps or len(state["param_groups"]) < 2:
            return state
        return first_group_only(state)

    def full_optimizer_state(self, state: dict, components: Components) -> dict:
        """The saved state fitted to this segment's optimizer (see `optimizer_state`)."""
        if not self.encoder_trains and len(state["param_groups"]) > 1:
            return first_group_only(state)
        return state

    def condition(
        self,
        components: Components,
        texts: list[str],
        step: int,
        generator: torch.Generator,
        device: str,
    ) -> torch.Tensor:
        encoder = components.text_encoder
        if step <= self.settings.text_encoder_steps:
            encoder.train().requires_grad_(True)
            return encoder(tokenize(components, texts, device))[0]
        encoder.eval().requires_grad_(False)
        return self.frozen(components, texts, device)

    def after_step(self, components: Components) -> None:
        """Repairs after an optimizer step."""

    def save(self, components: Components, checkpoint_dir: Path, manifest: dict) -> None:
        until = min(manifest["step"], self.settings.text_encoder_steps)
        manifest = {**manifest, "text_encoder_trained_until": until}
        save_checkpoint(components, checkpoint_dir, manifest, self.settings.save_precision)


class TextualInversion:
    """Only the key's vectors in the text encoder's embedding table; every other row is
    restored after each step."""

    prior_preservation = False

    def __init__(self, settings: TrainSettings):
        if settings.num_vectors is None or settings.init_word is None:
            raise TrainingError("textual_inversion needs num_vectors and init_word")
        if settings.prior_loss_weight > 0:
            raise TrainingError(
                "train.prior_loss_weight: prior preservation is for dreambooth and lora runs; "
                "set it to 0 for textual inversion"
            )
        self.settings = settings
        self.tokens = key_tokens(settings.key, settings.num_vectors)

    def prepare(self, components: Components) -> None:
        self.token_ids = add_key_tokens(components, self.settings.key, self.settings.num_vectors)
        ids = components.tokenizer(self.settings.init_word, add_special_tokens=False).input_ids
        if not ids:
            raise TrainingError(
                f"train.init_word {self.settings.init_word!r} has no tokens: pick a real word"
            )
        weight = input_embeddings(components).weight
        with torch.no_grad():  # the key starts at the embedding of init_word's first token
            weight[self.token_ids] = weight[ids[0]].clone()

    def trainable(self, components: Components, start_step: int) -> list[dict]:
        components.unet.requires_grad_(False).train(False)
        components.text_encoder.requires_grad_(False).train(False)
        embeddings = input_embeddings(components)
        embeddings.weight.requires_grad_(True)
        self.frozen_rows = torch.ones(embeddings.weight.shape[0], dtype=torch.bool)
        self.frozen_rows[self.token_ids] = False
        self.original_rows = embeddings.weight.detach()[self.frozen_rows].clone()
        return [{"params": [embeddings.weight]}]

    def condition(
        self,
        components: Components,
        texts: list[str],
        step: int,
        generator: torch.Generator,
        device: str,
    ) -> torch.Tensor:
        # captions of the TI paper's kind, drawn per image, instead of the instance prompt
        count = self.settings.batch_size
        template = torch.randint(len(STYLE_TEMPLATES), (count,), generator=generator)
        words = " ".join(self.tokens)
        texts = [STYLE_TEMPLATES[t].format(words) for t in template.tolist()]
        return components.text_encoder(tokenize(components, texts, device))[0]

    def after_step(self, components: Components) -> None:
        with torch.no_grad():
            input_embeddings(components).weight[self.frozen_rows] = self.original_rows

    def resume_weights(self, components: Components) -> dict[str, torch.Tensor]:
        return {"embeddings": input_embeddings(components).weight[self.token_ids]}

    def load_resume_weights(self, components: Components, weights: dict) -> None:
        with torch.no_grad():
            input_embeddings(components).weight[self.token_ids] = weights["embeddings"]

    def optimizer_state(self, state: dict, end_step: int) -> dict:
        """AdamW's moments of the key's rows only: the other rows are put back after every
        step, so their moments never matter (and the whole table's are ~300 MB at SD 1.5)."""
        return map_moments(state, lambda moment: moment[self.token_ids])

    def full_optimizer_state(self, state: dict, components: Components) -> dict:
        """The state `optimizer_state` kept, its moments spread back over the whole table."""
        weight = input_embeddings(components).weight

        def spread(rows: torch.Tensor) -> torch.Tensor:
            full = torch.zeros(weight.shape, dtype=rows.dtype)
            full[self.token_ids] = rows
            return full

        return map_moments(state, spread)

    def save(self, components: Components, checkpoint_dir: Path, manifest: dict) -> None:
        learned = {self.settings.key: input_embeddings(components).weight[self.token_ids].detach()}
        manifest = {**manifest, "tokens": self.tokens}
        save_checkpoint(components, checkpoint_dir, manifest, self.settings.save_precision,
                        learned=learned)  # fmt: skip


class LoRA:
    """Low-rank adapters on the UNet's attention (and the text encoder's, if asked)."""

    prior_preservation = True

    def __init__(self, settings: TrainSettings):
        if None in (settings.lora_rank, settings.lora_alpha, settings.lora_dropout):
            raise TrainingError("lora needs lora_rank, lora_alpha and lora_dropout")
        self.settings = settings
        self.frozen = FrozenEncoder()

    def prepare(self, components: Components) -> None:
        components.unet.requires_grad_(False)
        components.text_encoder.requires_grad_(False)
        add_lora(components, self.settings)

    def trainable(self, components: Components, start_step: int) -> list[dict]:
        parts = (components.unet, components.text_encoder)
        for module in parts:
            for name, parameter in module.named_parameters():
                parameter.requires_grad_(".lora_" in name)
        # Modes set here, after loading: freshly injected adapters start in training mode
        # inside an eval-mode encoder, reloaded ones do not, and dropout must act the same.
        components.unet.train(True)
        components.text_encoder.train(bool(self.settings.lora_text_encoder))
        return [{"params": [p for p in module.parameters() if p.requires_grad]} for module in parts]

    def condition(
        self,
        components: Components,
        texts: list[str],
        step: int,
        generator: torch.Generator,
        device: str,
    ) -> torch.Tensor:
        if self.settings.lora_text_encoder:
            return components.text_encoder(tokenize(components, texts, device))[0]
        components.text_encoder.eval()
        return self.frozen(components, texts, device)

    def after_step(self, components: Components) -> None:
        """Adapters need no repair."""

    def resume_weights(self, components: Components) -> dict[str, torch.Tensor]:
        weights = module_weights(components, ("unet", "text_encoder"))
        return {name: value for name, value in weights.items() if ".lora_" in name}

    def load_resume_weights(self, components: Components, weights: dict) -> None:
        load_module_weights(components, ("unet", "text_encoder"), weights)

    def optimizer_state(self, state: dict, end_step: int) -> dict:
        return state

    def full_optimizer_state(self, state: dict, components: Components) -> dict:
        return state

    def save(self, components: Components, checkpoint_dir: Path, manifest: dict) -> None:
        lora = lora_layers(components, self.settings)
        save_checkpoint(components, checkpoint_dir, manifest, self.settings.save_precision,
                        lora=lora)  # fmt: skip


def module_weights(components: Components, parts: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The parameters of the named components, as `part.name`."""
    return {f"{part}.{name}": parameter for part in parts
            for name, parameter in getattr(components, part).named_parameters()}  # fmt: skip


def load_module_weights(components: Components, parts: tuple[str, ...], weights: dict) -> None:
    """Put `module_weights`' tensors back; every one of them must find its parameter."""
    for part in parts:
        prefix = f"{part}."
        own = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        if not own:
            continue
        unexpected = getattr(components, part).load_state_dict(own, strict=False).unexpected_keys
        if unexpected:
            raise TrainingError(
                f"the resume state has {len(unexpected)} {part} tensors the model lacks "
                f"({unexpected[0]}, ...): delete the run's folder under results/train/ and rerun"
            )


def first_group_only(state: dict) -> dict:
    """An optimizer state_dict cut down to its first parameter group."""
    kept = set(state["param_groups"][0]["params"])
    return {
        "state": {index: value for index, value in state["state"].items() if index in kept},
        "param_groups": state["param_groups"][:1],
    }


def map_moments(state: dict, change) -> dict:
    """`change` applied to AdamW's two moments of every parameter (8-bit states as they are)."""
    moments = ("exp_avg", "exp_avg_sq")
    return {
        "state": {
            index: {k: change(v) if k in moments else v for k, v in entry.items()}
            for index, entry in state["state"].items()
        },
        "param_groups": state["param_groups"],
    }


METHODS = {"dreambooth": DreamBooth, "textual_inversion": TextualInversion, "lora": LoRA}


def make_method(settings: TrainSettings) -> DreamBooth | TextualInversion | LoRA:
    if settings.method not in METHODS:
        raise TrainingError(f"train.method must be one of {', '.join(METHODS)}")
    return METHODS[settings.method](settings)


# --- LoRA adapters (peft), imported only by LoRA runs ------------------------------------
def lora_configs(settings: TrainSettings) -> dict:
    from peft import LoraConfig

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
    from peft import inject_adapter_in_model

    torch.manual_seed(settings.seed)
    for part, config in lora_configs(settings).items():
        # peft's own injection: transformers' add_adapter asks for a newer peft than exists
        inject_adapter_in_model(config, getattr(components, part), adapter_name=ADAPTER)
        getattr(components, part).peft_config = {ADAPTER: config}


def lora_layers(components: Components, settings: TrainSettings) -> dict:
    """The arguments of diffusers' save_lora_weights: adapter tensors and their configs.

    peft keeps `target_modules` as a set, whose order changes from process to process; the
    metadata lists it sorted, so the same training writes the same bytes.
    """
    from diffusers.utils.state_dict_utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = {}
    for part, config in lora_configs(settings).items():
        state = get_peft_model_state_dict(getattr(components, part), adapter_name=ADAPTER)
        metadata = config.to_dict()
        metadata["target_modules"] = sorted(metadata["target_modules"])
        layers[f"{part}_lora_layers"] = convert_state_dict_to_diffusers(state)
        layers[f"{part}_lora_adapter_metadata"] = metadata
    return layers
