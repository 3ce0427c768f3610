"""What each stage's job is given, one settings object per stage, defined once.

The workflow builds each from config.yaml (the schema holds every default, and
tests/test_settings.py checks the fields against it) and hands it to the job as one param;
the job rebuilds the object from that param (the script for train, sample and prompts,
prepare_dataset for the video settings) and the library takes it whole. An animation's
settings stay a dict (AnimationSettings says why). Standard library only: every
`snakemake` call imports this.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import TypedDict


def field_names(settings_class: type) -> list[str]:
    return [field.name for field in fields(settings_class)]


def required_fields(settings_class: type) -> list[str]:
    """The fields without a default: for TrainSettings, those every method reads."""
    return [field.name for field in fields(settings_class) if field.default is MISSING]


# The fields of TrainSettings only one method reads; a segment's param leaves out the others,
# so that a setting of another method never reruns a job.
METHOD_FIELDS = {
    "dreambooth": ("text_encoder_steps",),
    "textual_inversion": ("num_vectors", "init_word"),
    "lora": ("lora_rank", "lora_alpha", "lora_dropout", "lora_text_encoder"),
}
# What the captions depend on; textual inversion captions with its own templates.
CAPTION_FIELDS = ("instance_prompt", "captions", "caption_dropout")


@dataclass(frozen=True)
class TrainSettings:
    """What the steps of one segment of a run depend on (stylesweep.sweep.segment_settings
    builds it, clipped to the segment).

    Every field is read strictly. The job rebuilds it from its param (segment_param), in
    which the fields of other methods are left out, so in the job they are None.
    """

    method: str
    key: str
    learning_rate: float
    batch_size: int
    seed: int
    lr_schedule: str
    lr_warmup_steps: int
    lr_horizon: int | None  # the step count a decaying schedule spans
    noise_offset: float
    snr_gamma: float | None
    random_flip: bool
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    mixed_precision: str  # no, bf16 or fp16 (fp16 on a GPU only)
    optimizer: str  # adamw or adamw8bit (bitsandbytes)
    prior_loss_weight: float  # > 0: prior preservation with the class images
    save_precision: str  # the checkpoint's number format: fp16 or fp32
    instance_prompt: str | None = None  # methods that caption with it (not textual inversion)
    captions: str | None = None  # instance, filename, sidecar or auto (stylesweep.captions)
    caption_dropout: float = 0.0  # the share of pictures trained on the key alone
    class_prompt: str | None = None  # with prior preservation
    text_encoder_steps: int | None = None  # dreambooth
    num_vectors: int | None = None  # textual inversion
    init_word: str | None = None  # textual inversion
    lora_rank: int | None = None  # lora
    lora_alpha: float | None = None
    lora_dropout: float | None = None
    lora_text_encoder: bool | None = None

    @property
    def prompt(self) -> str:
        return (self.instance_prompt or "").format(key=self.key)

    def used_fields(self) -> list[str]:
        """The fields this run's method reads: every field without a default, then the
        captions' (not for textual inversion), the method's own, and the class prompt with
        prior preservation."""
        used = required_fields(TrainSettings)
        if self.method != "textual_inversion":
            used += CAPTION_FIELDS
        used += METHOD_FIELDS[self.method]
        if self.prior_loss_weight:
            used.append("class_prompt")
        return used

    def segment_param(self, start: int, end: int) -> dict:
        """The fields used, with the segment's start and end steps, as the train job's param
        (the other fields are left out: editing them reruns nothing).

        The start and end come after the fields every method reads: the order the params
        were first recorded in. Snakemake compares a job's params with their key order, so
        another order would retrain every run of a finished sweep.
        """
        values = asdict(self)
        param = {name: values[name] for name in self.used_fields()}
        return {
            **{name: param.pop(name) for name in required_fields(TrainSettings)},
            "start_step": start,
            "end_step": end,
            **param,
        }


# The keys of `dataset:` that say what is done with a video, and their names in VideoSettings.
VIDEO_KEYS = {
    "video_every_seconds": "every_seconds",
    "video_scene_threshold": "scene_threshold",
    "video_max_frames": "max_frames",
    "blur_threshold": "blur_threshold",
    "dedupe_distance": "dedupe_distance",
}


@dataclass(frozen=True)
class VideoSettings:
    """What the dataset stage does with a video: the `video_*`, `blur_threshold` and
    `dedupe_distance` keys of `dataset:` (the schema holds their defaults and meaning)."""

    every_seconds: float | None
    scene_threshold: float | None
    max_frames: int
    blur_threshold: float
    dedupe_distance: int | None

    @classmethod
    def from_config(cls, settings: dict) -> VideoSettings:
        """Strictly from the config keys (named as in config.yaml): none missing, none extra."""
        missing = sorted(set(VIDEO_KEYS) - set(settings))
        extra = sorted(set(settings) - set(VIDEO_KEYS))
        if missing or extra:
            raise ValueError(
                f"video settings: missing {missing or 'none'}, unknown {extra or 'none'}"
            )
        return cls(**{VIDEO_KEYS[key]: value for key, value in settings.items()})

    @property
    def off(self) -> bool:
        """Neither clock nor cuts: no frame is taken, and videos are skipped."""
        return self.every_seconds is None and self.scene_threshold is None

    def as_config(self) -> dict:
        return {key: getattr(self, name) for key, name in VIDEO_KEYS.items()}


@dataclass(frozen=True)
class SampleSettings:
    """What a sample job's images depend on besides their models and prompts: config.yaml's
    `sample` section less `batch_size`, which changes only speed (the job reads it at run
    time). Every image's Recipe takes its sampler fields from here."""

    seeds: list[int]
    cfg_scales: list[float]
    sampler: str  # an AUTOMATIC1111 sampler name (stylesweep.sample.SAMPLERS)
    steps: int
    size: int
    clip_skip: int
    emphasis: str
    wrap_length: int
    pad_conds: bool
    strengths: list[float]  # each checkpoint's; a control's job has none

    @classmethod
    def from_config(cls, sample: dict) -> SampleSettings:
        """config.yaml's `sample` section, less `batch_size`."""
        return cls(**{name: sample[name] for name in field_names(cls)})

    def as_param(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PromptSettings:
    """How the prompt variants place the key (or, for the words control, the stills' style
    words) and the subjects in the base prompts (config.yaml's `prompts` section)."""

    placements: list[str]
    weights: list[float]
    subjects: dict[str, str]  # name: prompt, resolved (stylesweep.subjects)
    subject_weights: list[float] | None  # None: `weights`
    negative: str

    def as_param(self) -> dict:
        return asdict(self)


def prompt_settings(prompts: dict, subjects: dict[str, str]) -> PromptSettings:
    """config.yaml's `prompts` section as PromptSettings, its subjects resolved
    (stylesweep.subjects.resolve_subjects)."""
    names = [name for name in field_names(PromptSettings) if name != "subjects"]
    return PromptSettings(**{name: prompts[name] for name in names}, subjects=subjects)


Stepped = str | dict[str, str]  # one value, or {frame: value} from that frame on
Keyframes = str | float  # Deforum's keyframe syntax, "0: (1.0), 24: (1.1)", or one number


class AnimationSettings(TypedDict, total=False):
    """One animation of `animate.animations` (the schema's `$defs/animation` holds what each
    key means and its default).

    A dict rather than a dataclass: its schedules are Deforum's keyframe strings or
    {frame: value} maps, the job writes it back into settings.json as it came, and a job's
    param leaves out the keys that animation does not read (`animation_param`), which a
    dict says by their absence.
    """

    models: Stepped
    prompts: Stepped
    negative: str
    max_frames: int | None
    fps: int
    size: int
    init_image: str | None
    video_init: str | None
    extract_nth_frame: int
    hybrid_motion: str  # none or optical_flow
    hybrid_comp_alpha: Keyframes
    soundtrack: str | None
    interpolate: int
    sampler: str
    steps: Keyframes
    cfg_scale: Keyframes
    strength: Keyframes
    style_strength: Keyframes
    zoom: Keyframes
    angle: Keyframes
    translation_x: Keyframes
    translation_y: Keyframes
    noise: Keyframes
    contrast: Keyframes
    border: str  # replicate or wrap
    colour_match: str  # lab, rgb, hsv or off
    cadence: int
    seed: int
    seed_behavior: str  # iter, fixed, random or schedule
    seed_schedule: Keyframes


# The keys of an animation only a restyled video reads.
CLIP_KEYS = ("video_init", "extract_nth_frame", "hybrid_motion", "hybrid_comp_alpha")


def animation_param(settings: AnimationSettings, max_frames: int | None) -> AnimationSettings:
    """An animation's settings as its job's param: the seed schedule only when the seeds
    follow it, the keys of a restyled video only with one (and then no init image: the
    clip's first frame is the start), and `max_frames` resolved where it is known
    (stylesweep.animate.plan.animation_length), so that an edit that changes no frame reruns
    nothing."""
    param = dict(settings)
    if param["seed_behavior"] != "schedule":
        del param["seed_schedule"]
    if param["video_init"]:
        del param["init_image"]
    else:
        for key in CLIP_KEYS:
            del param[key]
    param["max_frames"] = max_frames
    return param
