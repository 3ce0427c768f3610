"""The training sweep: runs, their names, checkpoint steps and the settings of each segment."""

from __future__ import annotations

import itertools
from typing import Any

from stylesweep.settings import TrainSettings, field_names

# Short names of swept settings in run names, in the spirit of Snakemake's Paramspace.
ALIASES = {
    "text_encoder_fraction": "te",
    "text_encoder_steps": "testeps",
    "max_steps": "steps",
    "learning_rate": "lr",
    "checkpoint_every": "every",
    "batch_size": "bs",
    "noise_offset": "offset",
    "num_vectors": "vectors",
    "lora_rank": "rank",
    "prior_loss_weight": "prior",
}
VALUE_ALIASES = {"dreambooth": "db", "textual_inversion": "ti"}


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return VALUE_ALIASES.get(str(value), str(value))


def _in_order(settings: dict, order: list[str]) -> dict:
    """`settings` with its keys in `order` (the schema's), whatever order they were written in."""
    unknown = sorted(set(settings) - set(order))
    if unknown:
        raise KeyError(f"train settings not in the schema: {', '.join(unknown)}")
    return {key: settings[key] for key in order if key in settings}


def run_name(overrides: dict, order: list[str]) -> str:
    """A readable name of a run's own values, in schema order: `method~ti_lr~0.05`."""
    overrides = _in_order(overrides, order)
    return "_".join(f"{ALIASES.get(k, k)}~{_label(v)}" for k, v in overrides.items())


# Models that are not trained: the base model, and the base model prompted with the stills'
# own words instead of the key (stylesweep.words). They are step 0 and have no strength.
CONTROLS = ("base", "words")


def is_control(model: str) -> bool:
    return model in CONTROLS


def rendered_models(runs: dict[str, dict], words_baseline: int) -> list[str]:
    """Every model the sample jobs render: the controls (`words` when
    prompts.words_baseline is on), then each run's checkpoints."""
    controls = ["base", "words"] if words_baseline else ["base"]
    return [*controls, *model_names(runs)[1:]]


def model_name(run: str, step: int) -> str:
    """The name of a checkpoint, also its folder under results/train/: `te~0.1/step-20`."""
    return f"{run}/step-{step}"


def run_and_step(model: str) -> tuple[str, int]:
    """`te~0.1/step-20` (or that at a strength, `te~0.1/step-20@0.5`) -> (`te~0.1`, 20); a
    control (the base model, the words) is step 0 of every run."""
    model = model.partition("@")[0]
    if is_control(model):
        return model, 0
    run, _, step = model.rpartition("/step-")
    return run, int(step)


def model_label(model: str, strength: float | None) -> str:
    """A model at a strength, as scores, tables and charts name it: `lora/step-20@0.5`.

    Strength 1 (a checkpoint as trained) and the base model (no strength) keep the plain
    name, so a sweep without strengths names its models as before."""
    if strength is None or strength == 1:
        return model
    return f"{model}@{strength:g}"


def split_label(label: str) -> tuple[str, float | None]:
    """`lora/step-20@0.5` -> (`lora/step-20`, 0.5); a control has no strength."""
    model, _, strength = label.partition("@")
    if strength:
        return model, float(strength)
    return model, None if is_control(model) else 1.0


def model_labels(models: list[str], strengths: list[float]) -> list[str]:
    """Every model at every strength (a control once), in config order."""
    return [
        model_label(model, strength)
        for model in models
        for strength in ([None] if is_control(model) else strengths)
    ]


def export_stem(run: str, step: int) -> str:
    """The file name (less its suffix) of an exported checkpoint or LoRA: `te~0.1-step20`;
    a LoRA's name in A1111's `<lora:NAME:strength>`."""
    return f"{run}-step{step}"


def expand_runs(train: dict, order: list[str]) -> dict[str, dict]:
    """Every combination of the swept values (nothing swept: one run, `default`), then each
    of `extra_runs`, keyed by a readable run name like `te~0.05` or `method~ti_lr~0.05`.

    Names, settings and the sweep's combinations follow `order` (the schema's order of the
    train keys), so the same config written with its keys in another order gives the same
    runs, in the same order, with the same settings dicts.
    """
    sweep = _in_order(train["sweep"], order)
    extra = train["extra_runs"]
    base = _in_order({k: v for k, v in train.items() if k not in ("sweep", "extra_runs")}, order)
    runs = {}
    keys = list(sweep)
    for values in itertools.product(*(sweep[k] for k in keys)):  # one empty product: no sweep
        overrides = dict(zip(keys, values, strict=True))
        runs[run_name(overrides, order) or "default"] = _in_order({**base, **overrides}, order)
    for overrides in extra:
        name = run_name(overrides, order)
        if name in runs:
            raise ValueError(f"train.extra_runs: the run {name} is given twice")
        runs[name] = _in_order({**base, **overrides}, order)
    return runs


def checkpoint_steps(settings: dict) -> list[int]:
    """Every `checkpoint_every` steps, and the last step."""
    every, last = settings["checkpoint_every"], settings["max_steps"]
    steps = list(range(every, last + 1, every))
    if not steps or steps[-1] != last:
        steps.append(last)
    return steps


def text_encoder_steps(settings: dict) -> int:
    """Absolute steps if given, else the fraction of max_steps (the notebook's "strength")."""
    if settings["text_encoder_steps"] is not None:
        return int(settings["text_encoder_steps"])
    return round(settings["text_encoder_fraction"] * settings["max_steps"])


def _clip(value: int, start: int, end: int) -> int:
    return min(max(value, start), end)


def segment_settings(settings: dict, start: int, end: int) -> dict:
    """What steps start+1..end depend on, and nothing more: the segment's TrainSettings as its
    job's param, with its start and end steps.

    Snakemake compares these params to decide reruns, so each is reduced to what this
    segment can see: a text-encoder stop step (or a warm-up end) is clipped to the segment,
    so moving it reruns only the segments it falls in or before; `max_steps` enters only as
    the horizon of a decaying learning-rate schedule (unless `lr_horizon` fixes it); the
    fields another method reads are left out (TrainSettings.used_fields).
    """
    schedule, warmup = settings["lr_schedule"], settings["lr_warmup_steps"]
    derived = {
        "learning_rate": float(settings["learning_rate"]),
        "lr_warmup_steps": _clip(warmup, start, end) if schedule == "constant" else warmup,
        "lr_horizon": (
            None if schedule == "constant" else settings["lr_horizon"] or settings["max_steps"]
        ),
        "noise_offset": float(settings["noise_offset"]),
        "prior_loss_weight": float(prior_loss_weight(settings)),
        "caption_dropout": float(settings["caption_dropout"]),
        "text_encoder_steps": _clip(text_encoder_steps(settings), start, end),
    }
    segment = TrainSettings(
        **{name: derived.get(name, settings[name]) for name in field_names(TrainSettings)}
    )
    return segment.segment_param(start, end)


def prior_loss_weight(settings: dict) -> float:
    """The class images' loss weight; textual inversion never uses them."""
    if settings["method"] == "textual_inversion":
        return 0.0
    return settings["prior_loss_weight"]


def model_names(runs: dict[str, dict]) -> list[str]:
    """`base` (the untrained control), then every run at every checkpoint step."""
    names = ["base"]
    for run, settings in runs.items():
        names += [model_name(run, step) for step in checkpoint_steps(settings)]
    return names
