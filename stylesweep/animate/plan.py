"""An animation's plan: what decides each frame, from its config (no torch here).

The workflow checks a plan when it reads the config, so that a schedule that does not parse
or a model that is not in the sweep stops the run before any job starts; the render job
follows the plan frame by frame. A frame's recipe holds everything that decides its pixels
given the frames before it, so a frame on disk whose recipe (and every earlier frame's)
matches the plan is the frame this plan would render.
"""

from __future__ import annotations

import contextlib
import hashlib
import json

import numpy as np

from stylesweep.animate.schedule import (
    AUDIO_NAMES,
    ScheduleError,
    evaluate_schedule,
    parse_keyframes,
    value_at,
)
from stylesweep.settings import CLIP_KEYS, AnimationSettings

# Scheduled numbers, in Deforum's keyframe syntax; `strength` has Deforum's meaning.
SCHEDULED = (
    "zoom",
    "angle",
    "translation_x",
    "translation_y",
    "strength",
    "style_strength",
    "cfg_scale",
    "noise",
    "contrast",
    "steps",
    "hybrid_comp_alpha",
)
MOTION = ("zoom", "angle", "translation_x", "translation_y")
# The schedules only a restyled video reads (the workflow leaves them out of other
# animations' params, so that editing them reruns nothing there).
CLIP_SCHEDULED = tuple(key for key in SCHEDULED if key in CLIP_KEYS)
SEED_BEHAVIOURS = ("iter", "fixed", "random", "schedule")
# The sampler's text settings come from sample: (the grids' emphasis and prompt chunking).
TEXT_KEYS = ("clip_skip", "emphasis", "wrap_length", "pad_conds")


# A frame's seed seeds torch's CPU generator, which takes 0 to 2**64 - 1.
SEED_RANGE = (0, 2**64 - 1)
# The length of an animation that leaves max_frames out and restyles no video (with one, the
# clip's length): the schema's default is null, which means either.
FRAMES_WITHOUT_CLIP = 24


class AnimationError(ValueError):
    """An animation setting that cannot be used, named with its fix."""


def deforum_strength(kept: float) -> float:
    """diffusers' img2img strength for Deforum's: Deforum's strength is the share of the
    previous frame kept (its default 0.65), diffusers' the share of the schedule run again
    (so 0.35)."""
    return 1.0 - min(max(float(kept), 0.0), 1.0)


def stepped(value: str | dict, name: str) -> dict[int, str]:
    """A schedule that steps rather than interpolates (prompts, models): one value for the
    whole animation, or {frame: value} from YAML (keys as numbers or digit strings)."""
    if not isinstance(value, dict):
        return {0: value}
    keyframes = {}
    for frame, text in value.items():
        if not str(frame).isdigit():
            raise AnimationError(f"{name}: {frame!r} is not a frame number; use 0, 12, ...")
        keyframes[int(frame)] = text
    value_at(keyframes, 0, name)  # it must say what frame 0 is
    return dict(sorted(keyframes.items()))


def animation_length(settings: AnimationSettings, clip_frames: int | None = None) -> int | None:
    """max_frames, or when it is left out (null) the clip's length (`clip_frames`; None
    while the clip is not read yet) with video_init, else FRAMES_WITHOUT_CLIP."""
    if settings["max_frames"] is not None:
        return settings["max_frames"]
    if settings.get("video_init"):
        return clip_frames
    return FRAMES_WITHOUT_CLIP


def keyframe_span(settings: AnimationSettings) -> int:
    """One past the last keyframe any schedule names: the frames to check an animation over
    before its length is known (it is the clip's, and the clip is not read yet)."""
    last = 0
    for key in SCHEDULED:
        text = settings.get(key)
        if isinstance(text, str):
            # a schedule that does not parse is reported when it is evaluated
            with contextlib.suppress(ScheduleError):
                last = max(last, *parse_keyframes(text, key))
    for key in ("models", "prompts"):
        if isinstance(settings[key], dict):
            last = max(last, *(int(f) for f in settings[key] if str(f).isdigit()))
    return last + 1


def models_used(settings: AnimationSettings, where: str) -> list[str]:
    """The models of the model schedule that some frame uses (a switch at or after
    max_frames is not reached; with the length not known yet, every model), in the order
    they first appear."""
    schedule = stepped(settings["models"], f"{where}.models")
    length = animation_length(settings)
    frames = [frame for frame in schedule if length is None or frame < length]
    return list(dict.fromkeys(value_at(schedule, frame, f"{where}.models") for frame in frames))


def diffused_frames(max_frames: int, cadence: int) -> list[int]:
    """Every `cadence`-th frame, and the last, go through the model; the others are blends."""
    frames = list(range(0, max_frames, cadence))
    if frames[-1] != max_frames - 1:
        frames.append(max_frames - 1)
    return frames


def frame_seeds(
    settings: AnimationSettings,
    max_frames: int,
    where: str,
    audio: dict[str, np.ndarray] | None = None,
) -> list[int]:
    """Each frame's seed by Deforum's seed behaviours: iter (seed + frame), fixed, random
    (drawn from the seed, frame by frame, so a longer animation keeps the first seeds) or a
    keyframe schedule."""
    seed, behaviour = settings["seed"], settings["seed_behavior"]
    if behaviour == "iter":
        seeds, key = [seed + frame for frame in range(max_frames)], "seed"
    elif behaviour == "fixed":
        seeds, key = [seed] * max_frames, "seed"
    elif behaviour == "random":
        return [
            int(np.random.SeedSequence([seed, frame]).generate_state(1)[0])
            for frame in range(max_frames)
        ]
    elif behaviour == "schedule":
        values = evaluate_schedule(
            settings["seed_schedule"], max_frames, seed, f"{where}.seed_schedule", audio
        )
        seeds, key = [int(round(value)) for value in values], "seed_schedule"
    else:
        raise AnimationError(
            f"{where}.seed_behavior: {behaviour!r} is not one of {', '.join(SEED_BEHAVIOURS)}"
        )
    # Caught here, before any job: torch would stop the render job with an OverflowError.
    low, high = SEED_RANGE
    for frame, value in enumerate(seeds):
        if not low <= value <= high:
            shown = value if abs(value) < 10**20 else f"{value:g}"
            raise AnimationError(
                f"{where}.{key}: seed {shown} at frame {frame} is out of range; a seed is a "
                f"whole number from {low} to 2**64 - 1 ({high})"
            )
    return seeds


def silent_features(frames: int) -> dict[str, np.ndarray]:
    """Stand-ins for a soundtrack's features (all 0), to check the schedules of an animation
    whose soundtrack is not decoded yet."""
    return {name: np.zeros(frames) for name in AUDIO_NAMES}


def plan_animation(
    name: str,
    settings: AnimationSettings,
    models: dict[str, dict],
    common: dict,
    max_frames: int | None = None,
    audio: dict[str, np.ndarray] | None = None,
) -> list[dict]:
    """The recipe of every frame of animation `name`.

    `models` maps each model the sweep has to {"hash": weights hash, "key": trigger key};
    `common` holds what every frame shares and the schedules do not say (size, text
    settings, the init image's and source clip's hashes, the stage's version). `max_frames`
    is the animation's length when settings leave it to the clip's; `audio` the
    soundtrack's features at each frame (stylesweep.animate.audio). Raises AnimationError (a
    ScheduleError for a schedule) naming the setting.
    """
    where = f"animate.animations.{name}"
    max_frames = animation_length(settings, max_frames)
    if max_frames is None:
        raise AnimationError(f"{where}.max_frames: the clip's length is not known yet")
    if settings.get("soundtrack") and audio is None:
        raise AnimationError(f"{where}.soundtrack: its features are not computed yet")
    video = bool(settings.get("video_init"))
    # the keys of a restyled video are read only with one (the workflow leaves them out)
    scheduled = [key for key in SCHEDULED if video or key not in CLIP_SCHEDULED]
    try:
        values = {
            key: evaluate_schedule(
                settings[key], max_frames, settings["seed"], f"{where}.{key}", audio
            )
            for key in scheduled
        }
        seeds = frame_seeds(settings, max_frames, where, audio)
        prompts = stepped(settings["prompts"], f"{where}.prompts")
        model_schedule = stepped(settings["models"], f"{where}.models")
    except ScheduleError as error:
        raise AnimationError(str(error)) from None
    for key, low in (("zoom", 0.0), ("steps", 0.5)):
        bad = np.flatnonzero(values[key] <= low)
        if bad.size:
            raise AnimationError(
                f"{where}.{key}: {values[key][bad[0]]:g} at frame {bad[0]}; "
                f"{key} must be {'above 0' if key == 'zoom' else 'at least 1'} at every frame"
            )
    # Deforum's strength is the share of the previous frame kept: a share, from 0 to 1.
    bad = np.flatnonzero((values["strength"] < 0) | (values["strength"] > 1))
    if bad.size:
        raise AnimationError(
            f"{where}.strength: {values['strength'][bad[0]]:g} at frame {bad[0]}; strength is "
            "the share of the previous frame kept, from 0 (none) to 1 (all), at every frame"
        )
    alpha = values.get("hybrid_comp_alpha", np.zeros(max_frames))
    bad = np.flatnonzero((alpha < 0) | (alpha > 1))
    if bad.size:
        raise AnimationError(
            f"{where}.hybrid_comp_alpha: {alpha[bad[0]]:g} at frame {bad[0]}; it is the share "
            "of the source video's frame in each start, from 0 to 1, at every frame"
        )
    bad = np.flatnonzero(values["style_strength"] < 0)
    if bad.size:
        raise AnimationError(
            f"{where}.style_strength: {values['style_strength'][bad[0]]:g} at frame {bad[0]}; "
            "a model's strength is 0 (the base model) or more at every frame"
        )
    for model in model_schedule.values():
        if model not in models:
            raise AnimationError(
                f"{where}.models: {model!r} is not a model of the sweep; "
                f"models: {', '.join(models)}"
            )
    shared = {**common, "cadence": settings["cadence"], "border": settings["border"],
              "colour_match": settings["colour_match"]}  # fmt: skip
    if video:  # only then, so that the frames of animations without one keep their recipes
        timing = ("fps", "extract_nth_frame", "hybrid_motion")  # which clip frame, how it moves
        shared.update({key: settings[key] for key in timing})
    shared_hash = hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:16]
    diffused = diffused_frames(max_frames, settings["cadence"])
    plan = []
    for frame in range(max_frames):
        recipe = {"frame": frame, "shared": shared_hash}
        recipe.update({key: float(values[key][frame]) for key in MOTION})
        if frame in diffused:
            model = value_at(model_schedule, frame, f"{where}.models")
            recipe.update(
                kind="diffused",
                model=model,
                model_hash=models[model]["hash"],
                prompt=value_at(prompts, frame, f"{where}.prompts").replace(
                    "{key}", models[model]["key"]
                ),
                negative=settings["negative"],
                seed=seeds[frame],
                sampler=settings["sampler"],
                steps=int(round(values["steps"][frame])),
                cfg_scale=float(values["cfg_scale"][frame]),
                strength=float(values["strength"][frame]),
                noise=float(values["noise"][frame]),
                contrast=float(values["contrast"][frame]),
            )
            if video:
                recipe["hybrid_comp_alpha"] = float(values["hybrid_comp_alpha"][frame])
            if model != "base" and values["style_strength"][frame] != 1:
                # only then: frames rendered before style_strength existed keep their recipes
                recipe["style_strength"] = float(values["style_strength"][frame])
        else:
            before = max(k for k in diffused if k < frame)
            after = min(k for k in diffused if k > frame)
            recipe.update(
                kind="tween", between=[before, after], weight=(frame - before) / (after - before)
            )
        plan.append(recipe)
    # A frame between two diffused frames is made from the next one too: its recipe carries
    # that frame's, so a frame between is never kept beside a newer next frame.
    for recipe in plan:
        if recipe["kind"] == "tween":
            following = json.dumps(plan[recipe["between"][1]], sort_keys=True)
            recipe["next"] = hashlib.sha256(following.encode()).hexdigest()[:16]
    return plan
