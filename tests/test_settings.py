"""Each stage's settings object against the schema, the one source of defaults: every field
is a config key of its stage's section, and a segment's param holds exactly the fields its
method reads."""

from __future__ import annotations

import pytest

from stylesweep.config import load_schema
from stylesweep.settings import (
    CAPTION_FIELDS,
    CLIP_KEYS,
    METHOD_FIELDS,
    VIDEO_KEYS,
    AnimationSettings,
    PromptSettings,
    SampleSettings,
    TrainSettings,
    VideoSettings,
    animation_param,
    field_names,
    prompt_settings,
)
from stylesweep.sweep import segment_settings

from .conftest import SCHEMA, animation_settings, schema_defaults

# Config keys a stage reads at run time or that only shape the sweep, so no settings object
# holds them: the sample job's batch size (speed only), how the sweep is written, how long
# a run is and how it is checkpointed (segment_settings turns them into the segment's steps),
# what the workflow does with files, and the class images' own job.
NOT_SETTINGS = {
    "sample": {"batch_size"},
    "train": {
        "sweep", "extra_runs", "max_steps", "checkpoint_every", "text_encoder_fraction",
        "caption_template", "keep_resume", "num_class_images", "class_sampler", "class_steps",
        "class_cfg_scale",
    },
    "prompts": {"base_prompt", "portrait", "interrogator", "words_baseline"},
}  # fmt: skip


def section_keys(section: str) -> set[str]:
    return set(load_schema(SCHEMA)["properties"][section]["properties"])


@pytest.mark.parametrize(
    ("settings_class", "section"),
    [(TrainSettings, "train"), (SampleSettings, "sample"), (PromptSettings, "prompts")],
)
def test_every_field_is_a_config_key_and_every_key_is_a_field_or_known(settings_class, section):
    fields, keys = set(field_names(settings_class)), section_keys(section)
    assert fields <= keys, f"fields not in the schema's {section}: {fields - keys}"
    assert keys - fields == NOT_SETTINGS[section], f"{section} keys no settings object names"


def test_the_schema_defaults_make_each_object():
    config = schema_defaults()
    sample = SampleSettings.from_config(config["sample"])
    assert sample.as_param() == {k: config["sample"][k] for k in field_names(SampleSettings)}
    prompts = prompt_settings(config["prompts"], {"house": "a house"})
    assert prompts.subjects == {"house": "a house"}
    assert prompts.placements == config["prompts"]["placements"]


@pytest.mark.parametrize("method", sorted(METHOD_FIELDS))
@pytest.mark.parametrize("prior", [0.0, 1.0])
def test_a_segment_param_holds_exactly_the_fields_its_method_reads(method, prior):
    run = {**schema_defaults()["train"], "method": method, "prior_loss_weight": prior}
    segment = dict(segment_settings(run, 0, 10))
    assert (segment["start_step"], segment["end_step"]) == (0, 10)
    other_methods = {f for m, names in METHOD_FIELDS.items() if m != method for f in names}
    assert set(METHOD_FIELDS[method]) <= set(segment)
    assert not other_methods & set(segment)
    captions = method != "textual_inversion"
    assert (set(CAPTION_FIELDS) & set(segment)) == (set(CAPTION_FIELDS) if captions else set())
    assert ("class_prompt" in segment) == bool(prior and method != "textual_inversion")
    # the job's script rebuilds the object from the param, as scripts/train.py does
    start, end = segment.pop("start_step"), segment.pop("end_step")
    rebuilt = TrainSettings(**segment).segment_param(start, end)
    assert list(rebuilt.items()) == list(segment_settings(run, 0, 10).items())


def test_a_segment_param_keeps_the_key_order_finished_sweeps_recorded():
    """Snakemake compares a job's params with their key order: another order would retrain
    every run of a finished sweep."""
    run = {**schema_defaults()["train"], "prior_loss_weight": 1.0}
    assert list(segment_settings(run, 0, 10)) == [
        "method", "key", "learning_rate", "batch_size", "seed", "lr_schedule",
        "lr_warmup_steps", "lr_horizon", "noise_offset", "snr_gamma", "random_flip",
        "gradient_accumulation_steps", "gradient_checkpointing", "mixed_precision", "optimizer",
        "prior_loss_weight", "save_precision", "start_step", "end_step", "instance_prompt",
        "captions", "caption_dropout", "text_encoder_steps", "class_prompt",
    ]  # fmt: skip


def test_the_dataset_video_settings_are_dataset_keys():
    assert set(VIDEO_KEYS) <= section_keys("dataset")
    assert list(VIDEO_KEYS.values()) == field_names(VideoSettings)
    defaults = {key: schema_defaults()["dataset"][key] for key in VIDEO_KEYS}
    assert VideoSettings.from_config(defaults).as_config() == defaults


def test_an_animation_has_every_key_of_the_schema_and_no_other():
    animation = load_schema(SCHEMA)["$defs"]["animation"]["properties"]
    assert set(AnimationSettings.__annotations__) == set(animation)
    assert set(CLIP_KEYS) <= set(animation)


def test_an_animation_param_leaves_out_the_keys_its_frames_do_not_read():
    plain = animation_param(animation_settings(), 3)
    assert not set(CLIP_KEYS) & set(plain) and "seed_schedule" not in plain
    assert "init_image" in plain and plain["max_frames"] == 3
    clip = animation_param(animation_settings(video_init="clip.mp4", max_frames=None), None)
    assert set(CLIP_KEYS) <= set(clip) and "init_image" not in clip
    assert clip["max_frames"] is None  # the clip's length, known once the job reads it
    scheduled = animation_param(animation_settings(seed_behavior="schedule"), 3)
    assert "seed_schedule" in scheduled
