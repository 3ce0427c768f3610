# Config validation, sweep expansion and the input/param helpers of every rule.
#
# Only light modules are imported here (no torch, diffusers or PIL): every `snakemake`
# call, and every job, parses this file first.
import functools
import hashlib
import json
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stylesweep.config import (
    ConfigError,
    canonical,
    check_config,
    load_schema,
    replace_explicit,
    train_keys,
)
from stylesweep.sources import (
    BUILTIN_PORTRAIT,
    BUILTIN_SOUNDTRACK,
    BUILTIN_STILLS,
    BUILTIN_TOY,
    CAPTION_SUFFIXES,
    CSD_REPO,
    DEMO_CLIP,
    DRAWN_PORTRAIT,
    HEIF_SUFFIXES,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    BaseModelError,
    astronaut_path,
    check_builtin,
    check_single_file,
    is_builtin,
    is_single_file,
    resolve_base_model,
    uncached_scorers,
)
from stylesweep.captions import CaptionError, check_template, sidecars_fingerprint
from stylesweep.animate.plan import TEXT_KEYS as ANIMATION_TEXT_KEYS
from stylesweep.animate.plan import (
    CLIP_KEYS,
    AnimationError,
    animation_length,
    keyframe_span,
    models_used,
    plan_animation,
    silent_features,
)
from stylesweep.keys import BadKey, check_keys, check_train_key
from stylesweep.prompts import PromptError, check_placements
from stylesweep.subjects import SubjectError, resolve_subjects
from stylesweep.stages import stage_version
from stylesweep.votes import VotesError, read_votes
from stylesweep.toy.configs import SHIPPED as TOY_WEIGHTS
from stylesweep.sweep import (
    checkpoint_steps,
    expand_runs,
    is_control,
    model_labels,
    model_name,
    model_names,
    prior_loss_weight,
    rendered_models,
    segment_settings,
)

SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
STILL_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


def override_files():
    """The --configfile files over config.yaml, as (path, content); unreadable ones are
    left to Snakemake's own message."""
    files = []
    for path in workflow.overwrite_configfiles or []:
        try:
            files.append((str(path), yaml.safe_load(Path(path).read_text()) or {}))
        except (OSError, yaml.YAMLError):
            continue
    return files


SWEEP_SOURCE = replace_explicit(config, override_files()) or "config.yaml"

try:
    check_train_key(config)  # before the schema, whose pattern for the key says no why
    check_config(config, SCHEMA)
except (ConfigError, BadKey) as error:
    raise WorkflowError(str(error)) from None
validate(config, str(SCHEMA), set_default=True)

try:  # a placement template without {key} would stop the prompt_variants job
    check_placements(config["prompts"]["placements"])
except PromptError as error:
    raise WorkflowError(f"config key 'prompts.placements': {error}") from None
try:
    SUBJECTS = resolve_subjects(config["prompts"]["subjects"])
except SubjectError as error:
    raise WorkflowError(f"config key 'prompts.subjects': {error}") from None

try:
    RUNS = expand_runs(config["train"], train_keys(load_schema(SCHEMA)))
    check_keys(config["train"]["key"], RUNS)  # a file name; a textual-inversion key
except ValueError as error:
    raise WorkflowError(str(error)) from None
MODELS = model_names(RUNS)
# The controls: the base model, and the base model prompted with the stills' own words in
# place of the key (prompts.words_baseline; rules/prompts.smk). They have no strength.
RENDERED = rendered_models(RUNS, config["prompts"]["words_baseline"])
CONTROLS = [model for model in RENDERED if is_control(model)]
SAMPLE_GROUPS = [*CONTROLS, *RUNS]  # one sample (and score) job each
# every model at every strength of sample.strengths, as scores and the report name them
MODEL_LABELS = model_labels(RENDERED, config["sample"]["strengths"])
if workflow.is_main_process:
    print(
        f"stylesweep: {len(RUNS)} training runs from train.sweep of {SWEEP_SOURCE} and "
        f"train.extra_runs: {', '.join(RUNS)}",
        file=sys.stderr,
    )


wildcard_constraints:
    run="[^/]+",
    step="[0-9]+",
    group="[^/]+",


def param(value):
    """A config value as a param of a rule, canonical (dict keys sorted, so key order in
    config.yaml never reruns a job) and passed through a function, so that Snakemake never
    reads braces in a prompt or title as wildcards."""
    value = canonical(value)
    return lambda wildcards: value


def _existing(key, path):
    if not Path(path).exists():
        raise WorkflowError(
            f"config key '{key}': {path} does not exist; fix the path in config.yaml"
        )
    return path


def input_path(key, path):
    """A path from the config as a Snakemake input. Snakemake reads braces in an input path
    as wildcards and angle brackets as path variables, with no escape, so such a path gets
    one clear line instead of Snakemake's error."""
    if any(c in str(path) for c in "{}<>"):
        raise WorkflowError(
            f"config key '{key}': {path} has {{, }}, < or > in its name, which Snakemake reads "
            "as a wildcard; rename it (files inside the stills folder may have any name)"
        )
    return str(path)


def stills_folder():
    """The demo stills (made by a rule) or the user's stills folder."""
    stills = config["dataset"]["stills"]
    if stills == BUILTIN_STILLS:
        return "results/demo/stills"
    if not Path(_existing("dataset.stills", stills)).is_dir():
        raise WorkflowError(f"config key 'dataset.stills': {stills} is not a folder")
    suffixes = {path.suffix.lower() for path in Path(stills).rglob("*")}
    if not suffixes & STILL_SUFFIXES:
        heif = (
            "; its HEIC/HEIF photos need converting to PNG, JPEG or AVIF first"
            * bool(suffixes & HEIF_SUFFIXES)
        )
        raise WorkflowError(
            f"config key 'dataset.stills': {stills} holds no image or video "
            f"({', '.join(sorted(STILL_SUFFIXES))}){heif}; put your stills there"
        )
    return input_path("dataset.stills", stills)


def stills_fingerprint():
    """Names, sizes and times of the user's stills: an edit, addition or removal of any
    file changes it and reruns the dataset. A param rather than inputs, so that any file
    name works (Snakemake reads braces and angle brackets in paths as patterns). Caption
    sidecars are left out: their job is read_sidecars (rules/captions.smk)."""
    stills = config["dataset"]["stills"]
    if stills == BUILTIN_STILLS:
        return ""
    digest = hashlib.sha256()
    undecodable = []
    files = Path(stills).rglob("*")
    for path in sorted(
        p for p in files if p.is_file() and p.suffix.lower() not in CAPTION_SUFFIXES
    ):
        info = path.stat()
        # A name that is not UTF-8 (Linux allows any bytes) is hashed as its bytes: the
        # surrogates Python reads them as cannot be encoded otherwise.
        name = str(path.relative_to(stills)).encode("utf-8", "surrogateescape")
        digest.update(name + f"\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.append(name.decode("utf-8", "backslashreplace"))
    if undecodable and workflow.is_main_process:
        shown = ", ".join(f"'{name}'" for name in undecodable[:3])
        print(
            f"stylesweep: warning: dataset.stills: {len(undecodable)} file name(s) not valid "
            f"UTF-8 ({shown}): used, shown with \\x escapes "
            "in the manifest and report; rename them to keep their names readable",
            file=sys.stderr,
        )
    return digest.hexdigest()


@functools.cache  # resolved once: every rule and many input functions ask for it
def base_model_dir():
    """The base model's folder: made by a rule (a built-in model, or converted from a
    single file), local, or a hub id from the local cache."""
    base = config["base_model"]
    try:
        if is_builtin(base):
            check_builtin(base)
            return "results/base/model"
        if is_single_file(base):
            check_single_file(base)
            return "results/base/model"
        return input_path("base_model", resolve_base_model(base))
    except BaseModelError as error:
        raise WorkflowError(f"config key 'base_model': {error}") from None


def base_model_file():
    """The file the base model is made from: a single-file checkpoint, or the manifest of the
    shipped builtin:toy weights (so that new shipped weights remake the model)."""
    base = config["base_model"]
    if base == BUILTIN_TOY:
        return [str(TOY_WEIGHTS / "manifest.json")]
    return [input_path("base_model", base)] if is_single_file(base) else []


BASE_HASH = "results/base/model_hash.json"


def as_list(value):
    return value if isinstance(value, list) else [value]


def base_prompt_texts():
    return [text for text in as_list(config["prompts"]["base_prompt"]) if text.strip()]


def interrogation_settings():
    """What interrogating a picture depends on: the stand-in caption only when there is
    no caption model."""
    settings = dict(config["prompts"]["interrogator"])
    if settings["caption_model"] is not None:
        settings.pop("caption")
    return settings


def interrogator_settings():
    """What the base prompt depends on: nothing when it is written in config."""
    return None if base_prompt_texts() else interrogation_settings()


def portrait_paths():
    """The portraits to interrogate; none when the base prompts are written in config."""
    if base_prompt_texts():
        return []
    return [
        portrait_path(portrait) for portrait in as_list(config["prompts"]["portrait"])
    ]


DRAWN_PORTRAIT_PATH = "results/prompts/drawn_portrait.png"


def portrait_path(portrait):
    if portrait == BUILTIN_PORTRAIT:
        return str(astronaut_path())
    if portrait == DRAWN_PORTRAIT:
        return DRAWN_PORTRAIT_PATH
    return input_path("prompts.portrait", _existing("prompts.portrait", portrait))


def checkpoint_dir(model):
    return f"results/train/{model}"


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
    inputs = {
        "base": base_model_dir(),
        "base_hash": BASE_HASH,
        "latents": "results/train/latents.safetensors",
    }
    if prior_loss_weight(RUNS[wildcards.run]):
        inputs["class_latents"] = "results/train/class_images/latents.safetensors"
    if captions_file(RUNS[wildcards.run]):
        inputs["captions"] = captions_file(RUNS[wildcards.run])
    start = previous_step(wildcards)
    if start:  # its resume state lies beside it (stylesweep.resume)
        inputs["checkpoint"] = checkpoint_dir(model_name(wildcards.run, start))
    return inputs


def earlier_segments(wildcards):
    """The settings of the run's segments before this one: a segment whose resume state was
    removed (train.keep_resume: last) trains them again first. They change only when those
    segments retrain, which retrains this one anyway."""
    steps = [0] + checkpoint_steps(RUNS[wildcards.run])
    end = steps.index(previous_step(wildcards))
    return [
        segment_settings(RUNS[wildcards.run], a, b)
        for a, b in zip(steps[:end], steps[1 : end + 1])
    ]


def train_settings(wildcards):
    return segment_settings(
        RUNS[wildcards.run], previous_step(wildcards), int(wildcards.step)
    )


def group_models(group):
    """The models one sample job renders: a control (`base`, `words`), or every checkpoint
    of a run."""
    if group in CONTROLS:
        return {group: None}
    if group not in RUNS:
        raise WorkflowError(f"no training run named {group} (runs: {', '.join(RUNS)})")
    return {
        model_name(group, step): checkpoint_dir(model_name(group, step))
        for step in checkpoint_steps(RUNS[group])
    }


def group_strengths(wildcards):
    """The strengths a sample job renders its checkpoints at; the controls have none (so
    adding a strength leaves their jobs alone)."""
    if wildcards.group in CONTROLS:
        return []
    return canonical(config["sample"]["strengths"])


def sample_inputs(wildcards):
    models = group_models(wildcards.group)
    mark_stale_samples(wildcards.group, models)
    return {
        "base": base_model_dir(),
        "base_hash": BASE_HASH,
        "variants": (
            WORDS_VARIANTS
            if wildcards.group == "words"
            else "results/prompts/variants.json"
        ),
        "checkpoints": [folder for folder in models.values() if folder],
    }


def score_inputs(wildcards):
    """A run's score job compares with the base model's pictures, whose embeddings the base
    model's own score job wrote."""
    inputs = {
        "samples": f"results/samples/{wildcards.group}/images.json",
        "base": "results/samples/base/images.json",
        "dataset": "results/dataset",
        "variants": "results/prompts/variants.json",
    }
    if wildcards.group != "base":
        inputs["base_embeddings"] = "results/scores/base.embeddings.safetensors"
    return inputs


def mark_stale_samples(group, models):
    """A sample job whose images, or a checkpoint they came from, are gone since (deleted by
    hand, say) must run again.

    Its manifest is dated back to 1970, so Snakemake's mtime trigger reruns the job, which
    renders just the missing images (the others are reused). A param could not do it: the
    params a job ran with are recorded, and would differ again once the files are back. A
    missing checkpoint needs this too: Snakemake (since 7.7) does not remake a missing file
    while what was made from it is up to date; the rerun sample job needs it, so it is
    trained again, with the later checkpoints of its run (they resume from it). Only a
    checkpoint the manifest names counts: one that a longer run adds is simply new.
    """
    manifest = Path(f"results/samples/{group}/images.json")
    if not manifest.is_file() or manifest.stat().st_mtime <= 0:
        return
    try:
        images = json.loads(manifest.read_text())["images"]
    except (ValueError, KeyError):
        images = [{"file": "(an unreadable images.json)"}]
    missing = [i["file"] for i in images if not (manifest.parent / i["file"]).is_file()]
    sampled = {image.get("checkpoint", image.get("model")) for image in images}
    gone = [folder for name, folder in models.items()
            if folder and name in sampled and not Path(folder).is_dir()]  # fmt: skip
    if gone:
        reason = f"checkpoint {gone[0]} is gone; it will be trained again"
    elif missing:
        reason = (
            f"{manifest} lists {len(missing)} images that are gone ({missing[0]}, ...); "
            "they will be rendered again"
        )
    else:
        return
    print(f"stylesweep: {reason}", file=sys.stderr)
    os.utime(manifest, (0, 0))


def sample_manifests():
    return [f"results/samples/{group}/images.json" for group in SAMPLE_GROUPS]


def score_files():
    return [f"results/scores/{group}.json" for group in SAMPLE_GROUPS]


def export_precision(wildcards):
    """Only a DreamBooth export is a single file whose number format is chosen."""
    if RUNS[wildcards.run]["method"] != "dreambooth":
        return None
    return config["export"]["precision"]


PREFERENCES = "results/votes/preferences.json"


def votes_files():
    """report.votes: one votes.json or a list of them; none: []."""
    votes = config["report"]["votes"]
    if votes is None:
        return []
    paths = [votes] if isinstance(votes, str) else votes
    paths = [input_path("report.votes", _existing("report.votes", p)) for p in paths]
    try:  # a file that is no votes file is named now, before any job
        read_votes(paths)
    except VotesError as error:
        raise WorkflowError(f"config key 'report.votes': {error}") from None
    return paths


def score_thresholds():
    """What disqualifies a model from a recommendation (copies, collapse)."""
    return {k: config["score"][k] for k in ("copy_threshold", "collapse_ratio")}


def preferences_files():
    """The fitted votes, for the report: none without votes."""
    return [PREFERENCES] if votes_files() else []


def check_preferred(key):
    """`preferred` (the top-voted checkpoint) needs votes to be known."""
    if not votes_files():
        raise WorkflowError(
            f"config key '{key}': preferred is the top-voted checkpoint, and report.votes "
            "names no votes; vote in the report (index.html#compare), then set report.votes"
        )


def preferred_checkpoint(key):
    """The top-voted checkpoint, once the votes are fitted (a Snakemake checkpoint)."""
    check_preferred(key)
    fitted = json.loads(Path(checkpoints.fit_votes.get().output[0]).read_text())
    if fitted.get("preferred_checkpoint") is None:
        raise WorkflowError(
            f"config key '{key}': preferred: no checkpoint has a vote yet in "
            f"{', '.join(fitted['files'])}"
        )
    return fitted["preferred_checkpoint"]


def export_targets(wildcards=None, resolve=True):
    """The export folders of the checkpoints chosen in export.checkpoints (an input
    function: `preferred` is known once the votes are fitted). With resolve=False, only
    checks the names, when the workflow reads the config."""
    chosen = []
    for item in config["export"]["checkpoints"]:
        if item == "preferred":
            if resolve:
                chosen.append(preferred_checkpoint("export.checkpoints"))
            else:
                check_preferred("export.checkpoints")
            continue
        if item == "last":  # the last step of every run
            chosen += [
                model_name(run, checkpoint_steps(settings)[-1])
                for run, settings in RUNS.items()
            ]
            continue
        if item not in MODELS or item == "base":
            raise WorkflowError(
                f"config key 'export.checkpoints': no checkpoint {item} "
                f"(checkpoints: {', '.join(MODELS[1:])})"
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
    """Each animation's video and settings, in config order, for the report."""
    return [
        f"results/animate/{name}/{file}"
        for name in config["animate"]["animations"]
        for file in ("animation.mp4", "settings.json")
    ]


def thumbnail_manifests():
    return [f"results/thumbnails/{group}/thumbnails.json" for group in SAMPLE_GROUPS]


def report_sample_settings():
    """The sampler settings behind the report's pictures (not the batch size: speed only)."""
    return {
        key: value for key, value in config["sample"].items() if key != "batch_size"
    }


def report_runs():
    """Each run as the report shows it: the settings its training saw (all its segments as
    one) and its checkpoint steps, so that an edit no training sees (a LoRA rank with no
    LoRA run, say) leaves the report alone. A list of (run, settings) pairs: the runs keep
    the sweep's order, which param() would sort as dict keys."""
    shown = []
    for run, settings in RUNS.items():
        steps = checkpoint_steps(settings)
        seen = segment_settings(settings, 0, steps[-1])
        del seen["start_step"], seen["end_step"]
        seen.update(
            max_steps=settings["max_steps"],
            checkpoint_every=settings["checkpoint_every"],
        )
        shown.append([run, seen])
    return shown


# --- Captions (rules/captions.smk) and the stills' words (rules/prompts.smk) ---
AUTO_CAPTIONS = "results/captions/auto.json"
SIDECAR_CAPTIONS = "results/captions/sidecar.json"


def captions_file(run_settings):
    """The training captions a run reads: auto or sidecar; None for the others."""
    if run_settings["method"] == "textual_inversion":
        return None  # it captions with its own templates
    return {"auto": AUTO_CAPTIONS, "sidecar": SIDECAR_CAPTIONS}.get(
        run_settings["captions"]
    )


def sidecar_stills():
    """The folder whose sidecars `captions: sidecar` reads, and a hash of their text."""
    stills = config["dataset"]["stills"]
    folder = "results/demo/stills" if stills == BUILTIN_STILLS else stills
    return {"folder": folder, "texts": sidecars_fingerprint(folder)}


try:  # an empty template, or one without {key}, would train a key that learns nothing
    check_template(config["train"]["caption_template"])
except CaptionError as error:
    raise WorkflowError(str(error)) from None
USES_AUTO_CAPTIONS = any(captions_file(run) == AUTO_CAPTIONS for run in RUNS.values())
if USES_AUTO_CAPTIONS and config["prompts"]["interrogator"]["caption_model"] is None:
    raise WorkflowError(
        "train.captions: auto captions the stills with prompts.interrogator.caption_model, "
        "which is null; name a caption model (blip-large for SD 1.5) or use another "
        "train.captions"
    )


def report_captions():
    """The auto captions, which the report shows with the dataset, when a run uses them."""
    return {"captions": AUTO_CAPTIONS} if USES_AUTO_CAPTIONS else {}


WORDS_VARIANTS = "results/prompts/words.json"


def reference_portraits():
    """The pictures the style words must fit less well than the stills: the portraits."""
    return [portrait_path(p) for p in as_list(config["prompts"]["portrait"])]


def words_files():
    """The stills' interrogation and the words control's prompts, for the report."""
    if "words" not in CONTROLS:
        return {}
    return {"stills": "results/prompts/stills.json", "words": WORDS_VARIANTS}


# --- The dataset stage's video settings ---
# The keys of dataset: that say what is done with a video (stylesweep/video.py reads them).
VIDEO_KEYS = (
    "video_every_seconds",
    "video_scene_threshold",
    "video_max_frames",
    "blur_threshold",
    "dedupe_distance",
)
# Files that may give frames: videos, and GIFs (an animated one is read as a video).
FRAME_SUFFIXES = VIDEO_SUFFIXES | {".gif"}


def video_settings():
    """The video keys of dataset:, or None when the stills folder holds no video or GIF:
    they only change frames, so an edit of them then reruns nothing. The demo's stills
    hold a clip."""
    stills = config["dataset"]["stills"]
    if stills != BUILTIN_STILLS and not any(
        path.suffix.lower() in FRAME_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(stills).parts)
        for path in Path(stills).rglob("*")
    ):
        return None
    return {key: config["dataset"][key] for key in VIDEO_KEYS}


# --- The animate stage ---
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
    """An animation's settings as its job's param: the seed schedule only when the seeds
    follow it, the keys of a restyled video only with one, and the length resolved where it
    is known, so that an edit that changes no frame reruns nothing."""
    settings = dict(animation(name))
    if settings["seed_behavior"] != "schedule":
        del settings["seed_schedule"]
    if settings["video_init"]:
        del settings["init_image"]  # the clip's first frame is the start
    else:
        for key in CLIP_KEYS:
            del settings[key]
    settings["max_frames"] = animation_length(settings)
    return canonical(settings)


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


def check_disk_plan():
    """Print the plan's summary line; stop before the first job when the free space under
    results/ is smaller than what the plan still has to write (stylesweep.plan)."""
    from stylesweep.plan import make_plan, preflight

    plan = make_plan(config, train_keys(load_schema(SCHEMA)))
    try:
        print(f"stylesweep plan: {preflight(plan)}", file=sys.stderr)
    except OSError as error:
        raise WorkflowError(str(error)) from None


def check_scorers():
    """The scorers that come from the hub are in the local cache: checked before any job."""
    score = config["score"]
    style = score["style_model"]
    if style not in (BUILTIN_TOY, CSD_REPO) and not Path(style).is_dir():
        raise WorkflowError(
            f"config key 'score.style_model': {style} is neither builtin:toy, {CSD_REPO} nor "
            f"a folder; set one of them in config.yaml"
        )
    missing = uncached_scorers(style, score["structure_model"])
    if missing:
        fetch = " and ".join(f"`hf download {repo}`" for repo in missing)
        raise WorkflowError(
            f"config key 'score': {', '.join(missing)} not in the local Hugging Face cache, "
            f"and stylesweep never downloads at run time; fetch once with {fetch}, or set "
            f"score.style_model: builtin:toy and score.structure_model: null"
        )


if workflow.is_main_process:
    check_scorers()


def validation_models():
    """Every model the report compares: the base model, then each run's checkpoints."""
    models = {"base": None}
    for run in RUNS:
        models |= group_models(run)
    return models


def validation_prompt():
    """The instance prompt with the key, as config.yaml's train section writes them."""
    train = config["train"]
    return train["instance_prompt"].format(key=train["key"])


def validation_files():
    """The validation losses, for the report: none when no still is held out."""
    if config["dataset"]["validation_count"] == 0:
        return []
    return ["results/validation/losses.json"]
