"""What an edit of each config key reruns, on the tests' small config (tests/conftest.py:
one DreamBooth run `te~0.25` and one textual-inversion run `method~ti_lr~0.05`, two
checkpoints each, the base model as control).

tests/test_reruns.py changes each key in turn and checks that `snakemake -n` lists exactly
these jobs, and that README's "What an edit reruns" is `markdown()` of this table. A key
of the schema missing here fails that test too.
"""

from __future__ import annotations

# Job counts of the small config's runs, by what an edit touches.
REPORT = {"report": 1, "publish_report": 1}  # the page is built, then published whole
ONE_RUN = {"train": 2, "sample": 1, "make_thumbnails": 1, "score": 1, "export": 1, **REPORT}
# The DreamBooth run's checkpoints are the tests' animation's models: it follows that run.
DB_RUN = {**ONE_RUN, "animate": 1}
BOTH_RUNS = {"train": 4, "sample": 2, "make_thumbnails": 2, "score": 2, "export": 2,
             "animate": 1, **REPORT}  # fmt: skip
IMAGES = {"sample": 3, "make_thumbnails": 3, "score": 3, **REPORT}
VARIANTS = {"prompt_variants": 1, **IMAGES}
PROMPTS = {"base_prompt": 1, **VARIANTS}
DATASET = {
    "prepare_dataset": 1, "encode_dataset": 1, "train": 4, "sample": 2, "make_thumbnails": 2,
    "score": 3, "export": 2, "animate": 1, **REPORT,
}  # fmt: skip
NOTHING: dict[str, int] = {}
ANIMATION = {"animate": 1, **REPORT}
# The item of a map of named items whose keys the table covers: the tests' animation.
NAMED_ITEM = {"animate.animations": "drift"}
DRIFT = "animate.animations.drift"

# (config key, new value, the jobs `snakemake -n` lists without `all`, what it means)
# Values given as "{workdir}/..." are paths inside the finished workflow's folder.
# fmt: off
RERUNS = [
    ("base_model", "{workdir}/results/base/model",
     {"hash_base_model": 1, "encode_dataset": 1, "train": 4, "sample": 3, "make_thumbnails": 3,
      "score": 3, "export": 2, "animate": 2, **REPORT},
     "everything that reads the model"),
    ("device", "cpu", NOTHING, "a place, not a result"),
    ("dataset.stills", "{workdir}/mystills", DATASET, "the dataset and all training"),
    ("dataset.demo_count", 5, {"make_demo_stills": 1, **DATASET}, "the demo's stills onward"),
    ("dataset.resolution", 128, DATASET, "the dataset and all training"),
    ("dataset.crop", "smart", DATASET, "the dataset and all training"),
    ("dataset.video_every_seconds", 0.5, DATASET,
     "the dataset and all training, if the stills hold a video"),
    ("dataset.video_scene_threshold", 0.5, DATASET,
     "the dataset and all training, if the stills hold a video"),
    ("dataset.video_max_frames", 2, DATASET,
     "the dataset and all training, if the stills hold a video"),
    ("dataset.blur_threshold", 50, DATASET,
     "the dataset and all training, if the stills hold a video"),
    ("dataset.dedupe_distance", 2, DATASET,
     "the dataset and all training, if the stills hold a video"),
    ("dataset.validation_count", 1, {**DATASET, "validate": 1},
     "the dataset, all training, and the validation job (which then follows every checkpoint)"),
    ("train.method", "lora", DB_RUN, "the runs that do not set their own"),
    ("train.key", "vsynth2",
     {"prompt_variants": 1, "train": 4, **IMAGES, "export": 2, "animate": 2},
     "every run and every prompt"),
    ("train.instance_prompt", "{key} style", DB_RUN,
     "runs that caption with it (not textual inversion)"),
    ("train.max_steps", 6, {**BOTH_RUNS, "train": 6},
     "every segment while the schedule spans max_steps"),
    ("train.checkpoint_every", 1, {**BOTH_RUNS, "train": 8}, "every segment"),
    ("train.text_encoder_fraction", 0.3, NOTHING, "nothing: the sweep sets it"),
    ("train.text_encoder_steps", 3, DB_RUN, "DreamBooth runs, the segments it falls in"),
    ("train.learning_rate", 2.0e-3, DB_RUN, "runs that do not set their own"),
    ("train.lr_schedule", "cosine", BOTH_RUNS, "every run"),
    ("train.lr_warmup_steps", 1, BOTH_RUNS, "every run"),
    ("train.lr_horizon", 100, BOTH_RUNS, "every run with a decaying schedule"),
    ("train.batch_size", 2, BOTH_RUNS, "every run"),
    ("train.seed", 1, BOTH_RUNS, "every run"),
    ("train.noise_offset", 0.05, BOTH_RUNS, "every run"),
    ("train.snr_gamma", 5, BOTH_RUNS, "every run"),
    ("train.random_flip", True, BOTH_RUNS, "every run"),
    ("train.captions", "filename", DB_RUN, "runs that caption images (not textual inversion)"),
    ("train.caption_template", "{key}, {caption}", NOTHING,
     "the auto captions, then the runs with captions: auto (none here)"),
    ("train.caption_dropout", 0.1, DB_RUN, "runs that caption images (not textual inversion)"),
    ("train.num_vectors", 3, ONE_RUN, "textual-inversion runs"),
    ("train.init_word", "texture", ONE_RUN, "textual-inversion runs"),
    ("train.lora_rank", 4, NOTHING, "LoRA runs (none here)"),
    ("train.lora_alpha", 4, NOTHING, "LoRA runs (none here)"),
    ("train.lora_dropout", 0.1, NOTHING, "LoRA runs (none here)"),
    ("train.lora_text_encoder", True, NOTHING, "LoRA runs (none here)"),
    ("train.gradient_accumulation_steps", 2, BOTH_RUNS, "every run"),
    ("train.gradient_checkpointing", True, BOTH_RUNS, "every run"),
    ("train.mixed_precision", "bf16", BOTH_RUNS, "every run"),
    ("train.optimizer", "adamw8bit", BOTH_RUNS, "every run"),
    ("train.save_precision", "fp32", BOTH_RUNS, "every run (its checkpoints' bytes)"),
    ("train.keep_resume", "all", NOTHING, "nothing: which resume states are kept"),
    ("train.prior_loss_weight", 1.0, {"render_class_images": 1, **DB_RUN},
     "the class images, once, and the runs that use them"),
    ("train.class_prompt", "a pattern", NOTHING, "runs with prior preservation (none here)"),
    ("train.num_class_images", 10, NOTHING, "runs with prior preservation (none here)"),
    ("train.class_sampler", "Euler", NOTHING, "runs with prior preservation (none here)"),
    ("train.class_steps", 10, NOTHING, "runs with prior preservation (none here)"),
    ("train.class_cfg_scale", 5.0, NOTHING, "runs with prior preservation (none here)"),
    ("train.sweep", {"text_encoder_fraction": [0.25, 0.5]}, ONE_RUN, "the new run only"),
    ("train.extra_runs",
     [{"method": "textual_inversion", "learning_rate": 0.05}, {"seed": 7}], ONE_RUN,
     "the new run only"),
    ("prompts.base_prompt", "a portrait of a man", PROMPTS, "every image"),
    ("prompts.portrait", "{workdir}/portrait.png", {**PROMPTS, "animate": 1},
     "every image, and animations that start from it"),
    ("prompts.interrogator.clip_model", "ViT-B-32/openai", PROMPTS,
     "every image (and the stills' words, where on)"),
    ("prompts.interrogator.caption_model", None, PROMPTS,
     "every image (and the stills' words, where on)"),
    ("prompts.interrogator.mode", "classic", PROMPTS,
     "every image (and the stills' words, where on)"),
    ("prompts.interrogator.caption", "a photo", NOTHING,
     "nothing while there is a caption model"),
    ("prompts.words_baseline", 3,
     {"interrogate_stills": 1, "words_variants": 1, "sample": 1, "make_thumbnails": 1,
      "score": 1, **REPORT},
     "the words control (from 0: the stills' interrogation too); nothing else"),
    ("prompts.placements", ["start"], VARIANTS, "the manifests (kept images are reused)"),
    ("prompts.weights", [1.0, 1.3], VARIANTS, "the new images"),
    ("prompts.subjects", {"house": "a house, blue sky", "cat": "a cat, sofa"}, VARIANTS,
     "the new subject's images"),
    ("prompts.subject_weights", [1.0, 1.3], VARIANTS, "the subjects' new images"),
    ("prompts.negative", "blurry", VARIANTS, "every image"),
    ("sample.seeds", [1, 2, 3], IMAGES, "the new images"),
    ("sample.cfg_scales", [3, 7, 9], IMAGES, "the new images"),
    ("sample.sampler", "Euler", IMAGES, "every image"),
    ("sample.steps", 5, IMAGES, "every image"),
    ("sample.size", 128, IMAGES, "every image"),
    ("sample.clip_skip", 2, {**IMAGES, "animate": 2}, "every image and frame"),
    ("sample.emphasis", "comfy", {**IMAGES, "animate": 2}, "every image and frame"),
    ("sample.wrap_length", 10, {**IMAGES, "animate": 2}, "every image and frame"),
    ("sample.pad_conds", True, {**IMAGES, "animate": 2}, "every image and frame"),
    ("sample.strengths", [0.5, 1.0], {"sample": 2, "make_thumbnails": 2, "score": 2, **REPORT},
     "the new strength's images (not the base model's job)"),
    ("sample.batch_size", 4, NOTHING, "speed, not a result"),
    ("score.style_model", "{workdir}/results/base", {"score": 3, **REPORT}, "every score"),
    ("score.structure_model", "{workdir}/results/base", {"score": 3, **REPORT}, "every score"),
    ("score.copy_threshold", 0.5, REPORT, "the page only"),
    ("score.collapse_ratio", 0.5, REPORT, "the page only"),
    ("export.checkpoints", ["last", "te~0.25/step-2"], {"export": 1}, "the new exports"),
    ("export.precision", "fp32", {"export": 1}, "DreamBooth exports"),
    ("animate.animations",
     {"spin": {"models": "base", "prompts": "{key}", "max_frames": 2, "size": 64, "steps": 2}},
     ANIMATION, "the new animation only"),
    (f"{DRIFT}.models", {0: "te~0.25/step-4"}, ANIMATION, "the frames from the first switch on"),
    (f"{DRIFT}.prompts", "{key} waves", ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.negative", "blurry", ANIMATION, "every frame"),
    (f"{DRIFT}.max_frames", 6, ANIMATION, "the new frames only"),
    (f"{DRIFT}.fps", 4, ANIMATION, "the video, not its frames"),
    (f"{DRIFT}.size", 128, ANIMATION, "every frame"),
    (f"{DRIFT}.init_image", None, ANIMATION, "every frame"),
    (f"{DRIFT}.video_init", "stills:vsynth.mp4", ANIMATION, "every frame"),
    (f"{DRIFT}.extract_nth_frame", 2, NOTHING, "nothing unless video_init is set"),
    (f"{DRIFT}.hybrid_motion", "optical_flow", NOTHING, "nothing unless video_init is set"),
    (f"{DRIFT}.hybrid_comp_alpha", 0.7, NOTHING, "nothing unless video_init is set"),
    (f"{DRIFT}.soundtrack", "builtin:demo", ANIMATION,
     "the video, and the frames of schedules that use the sound"),
    (f"{DRIFT}.interpolate", 1, ANIMATION, "the video, not its frames"),
    (f"{DRIFT}.sampler", "Euler", ANIMATION, "every frame"),
    (f"{DRIFT}.steps", "0: (4), 2: (6)", ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.cfg_scale", "0: (5)", ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.strength", 0.5, ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.style_strength", "0: (1), 3: (0.5)", ANIMATION,
     "the frames from the first change on"),
    (f"{DRIFT}.zoom", "0: (1.0), 3: (1.1)", ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.angle", 1, ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.translation_x", 1, ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.translation_y", 1, ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.noise", 0.05, ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.contrast", 1.1, ANIMATION, "the frames from the first change on"),
    (f"{DRIFT}.border", "wrap", ANIMATION, "the frames after the first"),
    (f"{DRIFT}.colour_match", "rgb", ANIMATION, "the frames after the first"),
    (f"{DRIFT}.cadence", 2, ANIMATION, "the frames after the first"),
    (f"{DRIFT}.seed", 3, ANIMATION, "every frame"),
    (f"{DRIFT}.seed_behavior", "fixed", ANIMATION, "the frames after the first"),
    (f"{DRIFT}.seed_schedule", "0: (s+1)", NOTHING,
     "nothing unless seed_behavior is schedule"),
    ("report.title", "My {best} report", REPORT, "the page only"),
    ("report.thumbnail_size", 128, {"make_thumbnails": 3, **REPORT}, "thumbnails and page"),
    ("report.votes", "{workdir}/votes.json", {"fit_votes": 1, **REPORT},
     "the votes' fit and the page"),
    ("report.recommend_by", "votes", REPORT, "the page only"),
    ("report.min_votes", 5, REPORT, "the page only"),
    ("report.compare_seed", 2, REPORT, "the page only"),
]
# fmt: on


def describe(jobs: dict[str, int]) -> str:
    if not jobs:
        return "nothing"
    return ", ".join(f"{rule} x{count}" if count > 1 else rule for rule, count in jobs.items())


def markdown() -> str:
    """The table as README shows it."""
    lines = ["| key | what an edit reruns (the tests' config) | which |", "| --- | --- | --- |"]
    for key, _, jobs, meaning in RERUNS:
        lines.append(f"| `{key}` | {describe(jobs)} | {meaning} |")
    return "\n".join(lines)
