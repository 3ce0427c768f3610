"""What each stage's job is given, one frozen dataclass per stage, defined once.

The workflow builds them from config.yaml (the schema holds every default, and
tests/test_settings.py checks each field against it), hands them to the job as one param,
the job's script rebuilds the object from that param, and the library takes it whole.
Standard library only: every `snakemake` call imports this.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields


def field_names(settings_class: type) -> list[str]:
    return [field.name for field in fields(settings_class)]


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

    Every field is read strictly; the fields of one method are None for the others.
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
        used = [field.name for field in fields(self) if field.default is MISSING]
        if self.method != "textual_inversion":
            used += CAPTION_FIELDS
        used += METHOD_FIELDS[self.method]
        if self.prior_loss_weight:
            used.append("class_prompt")
        return used

    def as_param(self) -> dict:
        """The fields used, as a job's param (the others are left out: editing them reruns
        nothing)."""
        values = asdict(self)
        return {name: values[name] for name in self.used_fields()}


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
