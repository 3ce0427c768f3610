"""Bad input, tried as a new user would: one clear line naming the culprit and the fix,
before any job runs where it can be seen then, and nothing computed lost."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml
from PIL import Image

from .conftest import REPO, small_config, snakemake, write_config
from .test_reruns import job_counts

pytestmark = pytest.mark.workflow


def dry_run(workdir, config, *args):
    write_config(workdir, config)
    return snakemake(workdir, "-n", *args)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["prompts"].update(placements=["{key} style, portrait"]),
        lambda c: c["prompts"].update(negative="{bad} hands"),
        lambda c: c["report"].update(title="My {best} report <b>"),
        lambda c: c["prompts"].update(base_prompt="a {curly} portrait"),
    ],
    ids=["placement", "negative", "title", "base-prompt"],
)
def test_braces_in_text_are_text_not_wildcards(tmp_path, edit):
    config = small_config()
    edit(config)
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "WildcardError" not in result.stderr


def test_any_still_file_name_works(tmp_path):
    stills = tmp_path / "my stills (v1)"
    stills.mkdir()
    for index, name in enumerate(["<b>.png", "shot {take}.png", 'a\'b "c".png', "ünï.png"]):
        Image.new("RGB", (64, 64), (index * 60, 100, 200)).save(stills / name)
    config = small_config()
    config["dataset"]["stills"] = str(stills)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "results/dataset")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "results" / "dataset" / "manifest.json").read_text())
    assert sorted(entry["source"] for entry in manifest["images"]) == sorted(
        ["<b>.png", "shot {take}.png", 'a\'b "c".png', "ünï.png"]
    )
    # adding a still reruns the dataset; nothing else changed, nothing else to do
    assert "Nothing to be done" in snakemake(tmp_path, "-n", "results/dataset").stdout
    Image.new("RGB", (64, 64)).save(stills / "new.png")
    assert job_counts(snakemake(tmp_path, "-n", "results/dataset").stdout) == {"prepare_dataset": 1}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["sample"].update(seeds=[1, 1]),
            "config key 'sample.seeds': [1, 1] has non-unique",
        ),
        (
            lambda c: c["prompts"].update(weights=[1.2, 1.2]),
            "config key 'prompts.weights': [1.2, 1.2] has non-unique",
        ),
        (
            lambda c: c.update(base_model="builtin:huge"),
            "base model builtin:huge is not a built-in model; the built-in models are "
            "builtin:toy, builtin:tiny",
        ),
        (
            lambda c: c["score"].update(style_model="csd"),
            "config key 'score.style_model': csd is neither builtin:toy",
        ),
        (
            lambda c: c["score"].update(structure_model="facebook/dinov2-base"),
            "facebook/dinov2-base not in the local Hugging Face cache, and stylesweep never "
            "downloads at run time; fetch once with `hf download facebook/dinov2-base`",
        ),
        (
            lambda c: c["dataset"].update(validation_count=-1),
            "config key 'dataset.validation_count'",
        ),
        (
            lambda c: c["prompts"].update(subjects="builtin:sdxl"),
            "config key 'prompts.subjects': unknown subject suite 'builtin:sdxl': use "
            "builtin:sd15, builtin:toy, or map names to prompts",
        ),
        (
            lambda c: c["prompts"].update(subjects={"all": "a house"}),
            "config key 'prompts.subjects': subject name 'all' is taken",
        ),
        (
            lambda c: c["sample"].update(strengths=[0.5, -1.0]),
            "config key 'sample.strengths",
        ),
        (
            lambda c: c["export"].update(checkpoints=["preferred"]),
            "config key 'export.checkpoints': preferred is the top-voted checkpoint, and "
            "report.votes names no votes",
        ),
        (
            lambda c: c["animate"]["animations"]["drift"].update(models="preferred"),
            "config key 'animate.animations.drift.models': preferred is the top-voted checkpoint",
        ),
        (
            lambda c: c["train"].update(caption_template="{caption}"),
            "config key 'train.caption_template' ('{caption}') has no {key}",
        ),
        (
            lambda c: c["train"].update(caption_template=" "),
            "config key 'train.caption_template' is empty",
        ),
        (
            lambda c: (
                c["train"].update(captions="auto"),
                c["prompts"]["interrogator"].update(caption_model=None),
            ),
            "train.captions: auto captions the stills with prompts.interrogator.caption_model, "
            "which is null",
        ),
    ],
    ids=[
        "template-without-key",
        "template-empty",
        "auto-without-caption-model",
        "seeds",
        "weights",
        "builtin",
        "scorer",
        "uncached",
        "validation",
        "suite",
        "subject",
        "strength",
        "export-preferred",
        "animation-preferred",
    ],  # fmt: skip
)
def test_config_mistakes_are_named_before_any_job(tmp_path, monkeypatch, edit, message):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    config = small_config()
    edit(config)
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_an_empty_stills_folder_is_named_before_any_job(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a still")
    config = small_config()
    config["dataset"]["stills"] = str(tmp_path / "empty")
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "holds no image or video" in output and "empty" in output


def test_a_stills_folder_of_heic_photos_alone_says_to_convert_them(tmp_path):
    (tmp_path / "phone").mkdir()
    (tmp_path / "phone" / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    config = small_config()
    config["dataset"]["stills"] = str(tmp_path / "phone")
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "its HEIC/HEIF photos need converting to PNG, JPEG or AVIF first" in output


def test_a_file_that_is_not_a_checkpoint_is_named_before_any_job(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"this is a text file, not weights")
    config = small_config()
    config["base_model"] = str(tmp_path / "model.safetensors")
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "is not a readable .safetensors file" in result.stdout + result.stderr
    assert "model.safetensors" in result.stdout + result.stderr


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    text = (REPO / "config.yaml").read_text().replace("  key: vsynth", "  key: vsynth: x", 1)
    (tmp_path / "config.yaml").write_text(text)
    line = text.splitlines().index("  key: vsynth: x") + 1
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert f"config.yaml line {line}, column" in result.stdout + result.stderr


def test_an_explicit_empty_sweep_means_one_run(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"train": {"sweep": {}, "extra_runs": []}}))
    result = snakemake(tmp_path, "-n", "--configfile", str(mine))
    # the demo's animation switches between checkpoints of runs that are gone
    assert result.returncode != 0
    assert "'te~0.05/step-20' is not a model of the sweep; models: base, default/step-20" in (
        result.stdout + result.stderr  # a dry run prints its errors to stdout
    )
    # an explicit map of animations replaces the demo's too
    mine.write_text(yaml.safe_dump({"train": {"sweep": {}, "extra_runs": []},
                                    "animate": {"animations": {}}}))  # fmt: skip
    result = snakemake(tmp_path, "-n", "--configfile", str(mine))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"1 training runs from train.sweep of {mine}" in result.stderr
    assert job_counts(result.stdout)["train"] == 2  # one run, two checkpoints
    assert "animate" not in job_counts(result.stdout)


def test_a_deleted_image_is_rendered_again(finished):
    image = next((finished / "results" / "samples" / "te~0.25").rglob("*.png"))
    image.unlink()
    counts = job_counts(snakemake(finished, "-n").stdout)
    assert counts == {
        "sample": 1,
        "make_thumbnails": 1,
        "score": 1,
        "report": 1,
        "publish_report": 1,
    }
    result = snakemake(finished)  # to the end, so later tests find the folder complete
    assert result.returncode == 0, result.stderr[-2000:]
    assert image.is_file()
    log = (finished / "logs" / "sample" / "te~0.25.log").read_text()
    assert "1 images rendered" in log


def test_a_failed_report_keeps_the_last_good_one(finished):
    page = finished / "results" / "report" / "index.html"
    before = page.read_bytes()
    scores = finished / "results" / "scores" / "base.json"
    good = scores.read_bytes()
    scores.write_text("{ not json")
    try:
        result = snakemake(finished)
        assert result.returncode != 0
        assert page.read_bytes() == before
    finally:
        scores.write_bytes(good)
    assert snakemake(finished).returncode == 0  # the report is built and published again
    assert page.is_file()


def test_a_config_path_with_braces_is_named(tmp_path):
    (tmp_path / "stills {v1}").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "stills {v1}" / "a.png")
    config = small_config()
    config["dataset"]["stills"] = str(tmp_path / "stills {v1}")
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "config key 'dataset.stills'" in result.stdout + result.stderr
    assert "which Snakemake reads as a wildcard; rename it" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda a: a.update(translation_x="0: (10**10**10)"),
            "animate.animations.drift.translation_x, frame 0: '10**10**10' makes a number far "
            "too large for a schedule",
        ),
        (
            lambda a: a.update(strength="0: (0.65), 1: (1.5)"),
            "animate.animations.drift.strength: 1.5 at frame 1; strength is the share of the "
            "previous frame kept, from 0 (none) to 1 (all)",
        ),
        (
            lambda a: a.update(seed_behavior="schedule", seed_schedule="0: (1e30)"),
            "animate.animations.drift.seed_schedule: seed 1e+30 at frame 0 is out of range; a "
            "seed is a whole number from 0 to 2**64 - 1",
        ),
        (
            lambda a: a.update(style_strength="0: (1), 2: (-0.5)"),
            "animate.animations.drift.style_strength: -0.5 at frame 2; a model's strength is 0 "
            "(the base model) or more",
        ),
    ],
    ids=["explosive-schedule", "strength", "seed", "style-strength"],
)
def test_animation_mistakes_are_named_before_any_job(tmp_path, edit, message):
    config = small_config()
    edit(config["animate"]["animations"]["drift"])
    result = dry_run(tmp_path, config)  # 10**10**10 used to hang here for hours
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_a_still_whose_name_is_not_utf8_is_used_with_a_warning(tmp_path):
    stills = tmp_path / "stills"
    stills.mkdir()
    Image.new("RGB", (64, 64), (200, 20, 20)).save(os.fsencode(stills) + b"/bad\xffname.png", "PNG")
    Image.new("RGB", (64, 64), (20, 200, 20)).save(stills / "good.png")
    config = small_config()
    config["dataset"]["stills"] = str(stills)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "results/dataset")  # stopped every call, -n too
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "dataset.stills: 1 file name(s) not valid UTF-8 ('bad\\xffname.png'): used"
    ) in result.stderr
    manifest = json.loads((tmp_path / "results" / "dataset" / "manifest.json").read_text())
    assert [(entry["source"], entry["file"]) for entry in manifest["images"]] == [
        ("bad\\xffname.png", "bad_name.png"),
        ("good.png", "good.png"),
    ]


def test_a_placement_template_without_key_is_named_before_any_job(tmp_path):
    config = small_config()
    config["prompts"]["placements"] = ["start", "my style, a portrait"]
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert (
        "config key 'prompts.placements': 'my style, a portrait' is not start, middle or end, "
        "and as a template it lacks {key}, where the key goes; write e.g. '{key}, my style, a "
        "portrait'"
    ) in result.stdout + result.stderr


def test_a_number_yaml_reads_as_text_gets_the_fix_before_any_job(tmp_path):
    text = (REPO / "config.yaml").read_text()
    assert "\n  learning_rate: " in text
    (tmp_path / "config.yaml").write_text(
        text.replace("\n  learning_rate: ", "\n  learning_rate: 1e-4 #", 1)
    )
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert (
        "config key 'train.learning_rate': '1e-4' is not of type 'number'; YAML reads 1e-4 as "
        "text (PyYAML needs a dot and a signed exponent): write 1.0e-4"
    ) in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("AC/DC", "'AC/DC' holds a / or \\"),
        ("../../../../x", "'../../../../x' holds a / or \\"),
        ("a\\b", "'a\\\\b' holds a / or \\"),
        (".hidden", "'.hidden' starts with a dot"),
        ("tab\tkey", "'tab\\tkey' holds a control character"),
    ],
    ids=["slash", "dotdot", "backslash", "dot", "control"],
)
def test_a_key_that_cannot_be_a_file_name_is_named_before_any_job(tmp_path, key, message):
    config = small_config()
    config["train"]["key"] = key
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"config key 'train.key': {message}" in output and "like 'vsynth'" in output
    assert not (tmp_path / "results").exists()


def test_a_textual_inversion_key_of_the_vocabulary_is_named_before_any_job(tmp_path):
    config = small_config()  # its extra run is a textual inversion
    config["train"]["key"] = "art"
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config key 'train.key': 'art' is a textual-inversion key" in output
    assert "use a made-up word the vocabulary lacks, like 'vsynth'" in output


def test_a_model_folder_of_pickled_weights_is_named_before_any_job(tiny_model, tmp_path):
    from .test_base import pickled_model

    folder = pickled_model(tiny_model, tmp_path / "pickled")
    config = small_config()
    config["base_model"] = str(folder)
    result = dry_run(tmp_path, config)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"base model file {folder}/unet/diffusion_pytorch_model.bin is a pickle" in output
    assert "convert the model to .safetensors" in output
    assert "unsafe serialization" not in output and "Traceback" not in output


def test_a_dry_run_of_a_longer_run_leaves_the_samples_alone(finished, tmp_path):
    """Checkpoints a longer run would add are new, not deleted: a dry run with them marks no
    sample job to rerun (the next plain dry run still has nothing to do)."""
    longer = tmp_path / "longer.yaml"
    longer.write_text(yaml.safe_dump({"train": {"max_steps": 6}}))
    result = snakemake(finished, "-n", "--configfile", str(longer))
    assert result.returncode == 0 and "is gone" not in result.stderr, result.stderr[-2000:]
    assert job_counts(result.stdout)["train"] >= 1  # the new step-6 checkpoints
    assert "Nothing to be done" in snakemake(finished, "-n").stdout


def test_a_deleted_checkpoint_is_trained_again(finished):
    checkpoint = finished / "results" / "train" / "te~0.25" / "step-2"
    before = (checkpoint / "manifest.json").read_bytes()
    shutil.rmtree(checkpoint)
    result = snakemake(finished, "-n")
    assert "stylesweep: checkpoint results/train/te~0.25/step-2 is gone" in result.stderr
    counts = job_counts(result.stdout)
    assert counts["train"] == 2  # with step-4, which resumes from it
    assert counts["sample"] == 1 and counts["publish_report"] == 1
    result = snakemake(finished)  # to the end, so later tests find the folder complete
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((checkpoint / "manifest.json").read_bytes()) == json.loads(before)
    assert (finished / "results" / "report" / "index.html").is_file()
    assert not list((finished / "results").glob(".report.*"))


def test_a_votes_file_that_is_not_json_is_named_before_any_job(tmp_path):
    (tmp_path / "votes.json").write_text('{"votes": [')
    config = small_config()
    config["report"]["votes"] = str(tmp_path / "votes.json")
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert (
        f"config key 'report.votes': {tmp_path / 'votes.json'}: not JSON (line 1"
        in result.stdout + result.stderr
    )


def test_votes_from_another_sweep_stop_the_fit_and_keep_the_report(finished, tmp_path):
    workdir = tmp_path / "workflow"
    shutil.copytree(finished, workdir, symlinks=True)
    votes = tmp_path / "votes.json"
    strangers = [{"left": "0" * 16, "right": "1" * 16, "winner": "left"}] * 3
    votes.write_text(json.dumps({"votes": strangers}))
    config = small_config()
    config["report"]["votes"] = str(votes)
    write_config(workdir, config)
    page = (workdir / "results" / "report" / "index.html").read_bytes()
    result = snakemake(workdir)
    assert result.returncode != 0
    log = (workdir / "logs" / "votes" / "fit_votes.log").read_text()
    assert f"3 votes read from {votes}, but none names images of two models of this sweep" in log
    assert (workdir / "results" / "report" / "index.html").read_bytes() == page
