# Config validation, sweep expansion and the input/param helpers of every rule.
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stylesweep.base import BaseModelError, resolve_base_model
from stylesweep.config import ConfigError, check_config
from stylesweep.demo import BUILTIN_PORTRAIT, BUILTIN_STILLS, astronaut_path
from stylesweep.single_file import is_single_file
from stylesweep.sweep import (
    checkpoint_steps,
    expand_runs,
    model_names,
    prior_loss_weight,
    segment_settings,
)

SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"

try:
    check_config(config, SCHEMA)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
validate(config, str(SCHEMA), set_default=True)

RUNS = expand_runs(config["train"])
MODELS = model_names(RUNS)
TINY = "builtin:tiny"


wildcard_constraints:
    run="[^/]+",
    step="[0-9]+",
    group="[^/]+",


def _existing(key, path):
    if not Path(path).exists():
        raise WorkflowError(
            f"config key '{key}': {path} does not exist; fix the path in config.yaml"
        )
    return path


def stills_folder():
    """The demo stills (made by a rule) or the user's stills folder."""
    stills = config["dataset"]["stills"]
    if stills == BUILTIN_STILLS:
        return "results/demo/stills"
    if not Path(_existing("dataset.stills", stills)).is_dir():
        raise WorkflowError(f"config key 'dataset.stills': {stills} is not a folder")
    return stills


def stills_files():
    """Every file in the user's stills folder, so that editing one reruns the dataset."""
    if config["dataset"]["stills"] == BUILTIN_STILLS:
        return []
    return sorted(str(p) for p in Path(stills_folder()).rglob("*") if p.is_file())


def base_model_dir():
    """The base model's folder: made by a rule (the tiny model, or converted from a single
    file), local, or a hub id from the local cache."""
    base = config["base_model"]
    if base == TINY or is_single_file(base):
        return "results/base/model"
    try:
        return str(resolve_base_model(base))
    except BaseModelError as error:
        raise WorkflowError(f"config key 'base_model': {error}") from None


def base_model_file():
    """The single-file checkpoint the base model is converted from, if it is one."""
    base = config["base_model"]
    return [_existing("base_model", base)] if is_single_file(base) else []


def as_list(value):
    return value if isinstance(value, list) else [value]


def base_prompt_texts():
    return [text for text in as_list(config["prompts"]["base_prompt"]) if text.strip()]


def portrait_paths():
    """The portraits to interrogate; none when the base prompts are written in config."""
    if base_prompt_texts():
        return []
    return [
        (
            str(astronaut_path())
            if portrait == BUILTIN_PORTRAIT
            else _existing("prompts.portrait", portrait)
        )
        for portrait in as_list(config["prompts"]["portrait"])
    ]


def previous_step(wildcards):
    """The checkpoint step a segment resumes from, or 0 for the first segment."""
    steps = checkpoint_steps(RUNS[wildcards.run])
    step = int(wildcards.step)
    if step not in steps:
        raise WorkflowError(
            f"run {wildcards.run} has no checkpoint at step {step} (has {steps})"
        )
    index = steps.index(step)
    return steps[index - 1] if index else 0


def train_inputs(wildcards):
    inputs = {"base": base_model_dir(), "latents": "results/train/latents.safetensors"}
    if prior_loss_weight(RUNS[wildcards.run]):
        inputs["class_latents"] = "results/train/class_images/latents.safetensors"
    start = previous_step(wildcards)
    if start:
        inputs["checkpoint"] = f"results/train/{wildcards.run}/step-{start}"
        inputs["state"] = f"results/train/{wildcards.run}/resume/step-{start}.pt"
    return inputs


def train_settings(wildcards):
    return segment_settings(
        RUNS[wildcards.run], previous_step(wildcards), int(wildcards.step)
    )


def group_models(group):
    """The models one sample job renders: `base`, or every checkpoint of a run."""
    if group == "base":
        return {"base": None}
    if group not in RUNS:
        raise WorkflowError(f"no training run named {group} (runs: {', '.join(RUNS)})")
    return {
        f"{group}/step-{step}": f"results/train/{group}/step-{step}"
        for step in checkpoint_steps(RUNS[group])
    }


def sample_inputs(wildcards):
    checkpoints = [c for c in group_models(wildcards.group).values() if c]
    return {
        "base": base_model_dir(),
        "variants": "results/prompts/variants.json",
        "checkpoints": checkpoints,
    }


def sample_manifests():
    return [f"results/samples/{group}/images.json" for group in ["base", *RUNS]]


def score_files():
    return [f"results/scores/{group}.json" for group in ["base", *RUNS]]


def export_targets():
    """The export folders of the checkpoints chosen in export.checkpoints."""
    chosen = []
    for item in config["export"]["checkpoints"]:
        if item == "last":  # the last step of every run
            chosen += [
                f"{run}/step-{checkpoint_steps(settings)[-1]}"
                for run, settings in RUNS.items()
            ]
            continue
        if item not in MODELS or item == "base":
            raise WorkflowError(
                f"config key 'export.checkpoints': no checkpoint {item}"
            )
        chosen.append(item)
    return [f"results/export/{model}" for model in dict.fromkeys(chosen)]


def loss_files():
    return {
        run: [
            f"results/train/{run}/loss/step-{step}.csv"
            for step in checkpoint_steps(settings)
        ]
        for run, settings in RUNS.items()
    }


def animation_files():
    """Animations already made under results/animations/, shown by the report."""
    return sorted(
        str(path)
        for path in Path("results/animations").glob("*")
        if path.suffix.lower() in (".mp4", ".webm", ".gif", ".webp")
    )
