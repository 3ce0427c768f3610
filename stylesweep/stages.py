"""The version of each stage's output, a param of its rule.

Snakemake reruns a job when its params change, but it does not see edits to this package
(only to the thin scripts). So a change to the library that changes what a stage writes
bumps that stage's number here, and the stage reruns with everything after it; a refactor
that changes no output leaves the numbers alone and reruns nothing.
`tests/test_stage_versions.py` holds a fingerprint of each stage's output on the tiny
model and fails when an output moves while its version stays.
"""

from __future__ import annotations

STAGE_VERSIONS = {
    "make_demo_stills": 4,
    "prepare_dataset": 4,
    "caption_stills": 1,
    "read_sidecars": 1,
    "make_base_model": 1,
    "hash_base_model": 1,
    "encode_dataset": 2,
    "render_class_images": 1,
    "train": 2,
    "draw_portrait": 2,
    "base_prompt": 1,
    "prompt_variants": 2,
    "interrogate_stills": 1,
    "words_variants": 1,
    "sample": 3,
    "score": 4,
    "validate": 1,
    "fit_votes": 1,
    "make_thumbnails": 1,
    "report": 7,
    "publish_report": 7,
    "export": 1,
    "animate": 4,
    "make_demo_soundtrack": 1,
}


def stage_version(stage: str) -> int:
    return STAGE_VERSIONS[stage]
