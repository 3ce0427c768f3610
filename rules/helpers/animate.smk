# Animations (rules/animate.smk): each animation's settings, models, media and checks.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.animate.plan import TEXT_KEYS as ANIMATION_TEXT_KEYS
from stylesweep.animate.plan import (
    AnimationError,
    animation_length,
    keyframe_span,
    models_used,
    plan_animation,
    silent_features,
)
from stylesweep.settings import animation_param
from stylesweep.sources import BUILTIN_SOUNDTRACK, DEMO_CLIP


def animation_models():
    """Every model of the sweep as an animation names it, with its checkpoint folder (None
    for the base) and its trigger key."""
    models = {"base": {"checkpoint": None, "key": config["train"]["key"]}}
    for run, settings in RUNS.items():
        for step in checkpoint_steps(settings):
            model = model_name(run, step)
            models[model] = {
                "checkpoint": checkpoint_dir(model),
                "key": settings["key"],
            }
    return models


def animation(name):
    """One animation's settings, or a clear error naming the known ones."""
    animations = config["animate"]["animations"]
    if name not in animations:
        raise WorkflowError(
            f"no animation named {name} in animate.animations "
            f"(animations: {', '.join(animations) or 'none'})"
        )
    return animations[name]


def check_animations():
    """Parse every animation's schedules and check its models and files, so that a mistake
    stops the run before any job starts, naming the key. An animation whose length is its
    clip's is checked up to its last keyframe, with a silent soundtrack: the job checks
    every frame, with the clip and the track read, before it renders one."""
    models = {
        model: {"hash": "", "key": entry["key"]}
        for model, entry in animation_models().items()
    }
    models["preferred"] = {"hash": "", "key": config["train"]["key"]}
    for name, settings in config["animate"]["animations"].items():
        where = f"animate.animations.{name}"
        animation_media(name)  # the files exist
        frames = animation_length(settings) or keyframe_span(settings)
        audio = silent_features(frames) if settings["soundtrack"] else None
        try:
            if "preferred" in models_used(settings, where):
                check_preferred(f"{where}.models")
            plan_animation(name, settings, models, {}, frames, audio)
        except AnimationError as error:
            raise WorkflowError(f"config key {error}") from None


def animation_settings(name):
    """An animation's settings as its job's param (stylesweep.settings.animation_param)."""
    settings = animation(name)
    return canonical(animation_param(settings, animation_length(settings)))


# Where `builtin:demo` as a soundtrack is made (rule make_demo_soundtrack).
DEMO_SOUNDTRACK = "results/demo/soundtrack.wav"


def media_file(key, value):
    """The file a video_init or soundtrack names, and the input that makes it appear: the
    stills folder for stills:NAME in the demo's (a rule makes the folder), the file itself
    otherwise."""
    if value == BUILTIN_SOUNDTRACK and key.endswith(".soundtrack"):
        return DEMO_SOUNDTRACK, DEMO_SOUNDTRACK
    if value.startswith("stills:"):
        folder = stills_folder()
        path = f"{folder}/{value.removeprefix('stills:')}"
        if config["dataset"]["stills"] == BUILTIN_STILLS:
            if value != f"stills:{DEMO_CLIP}":
                raise WorkflowError(
                    f"config key '{key}': {value} is not in the demo's stills folder, whose "
                    f"one clip is stills:{DEMO_CLIP}"
                )
            return path, folder
        return path, input_path(key, _existing(key, path))
    return value, input_path(key, _existing(key, value))


def animation_media(name):
    """An animation's clip and soundtrack: {"video"|"soundtrack": (file, input)}, for those
    it has."""
    settings = animation(name)
    where = f"animate.animations.{name}"
    keys = {"video": "video_init", "soundtrack": "soundtrack"}
    return {
        role: media_file(f"{where}.{key}", settings[key])
        for role, key in keys.items()
        if settings[key]
    }


def animation_used_models(name):
    """The models an animation's frames use, with their checkpoints and keys (not the
    others: a run added to the sweep leaves the animation alone)."""
    where = f"animate.animations.{name}"
    used = models_used(animation(name), where)
    models = animation_models()
    if (
        "preferred" in used
    ):  # the top-voted checkpoint, under the name the schedule gives
        models["preferred"] = models[preferred_checkpoint(f"{where}.models")]
    return canonical({model: models[model] for model in used})


def animate_inputs(wildcards):
    settings = animation(wildcards.animation)
    models = animation_used_models(wildcards.animation)
    inputs = {
        "base": base_model_dir(),
        "base_hash": BASE_HASH,
        "checkpoints": [m["checkpoint"] for m in models.values() if m["checkpoint"]],
    }
    init = None if settings["video_init"] else settings["init_image"]
    key = f"animate.animations.{wildcards.animation}.init_image"
    if init == "portrait":
        inputs["init_image"] = portrait_path(as_list(config["prompts"]["portrait"])[0])
    elif init:
        inputs["init_image"] = input_path(key, _existing(key, init))
    for role, (_, made_by) in animation_media(wildcards.animation).items():
        inputs[role] = made_by
    return inputs


def animation_files_used(name):
    """The files the animate job reads its clip and soundtrack from (a param: for the
    demo's, the input is the folder that holds the file)."""
    return {role: path for role, (path, _) in animation_media(name).items()}


def animation_text_settings():
    """The grids' prompt settings, which the animations share."""
    return {key: config["sample"][key] for key in ANIMATION_TEXT_KEYS}


if workflow.is_main_process:
    check_animations()
