"""The science of the demo: on builtin:toy, training on the video-synth stills moves the
portrait toward the style, the way the blog found it does on Stable Diffusion 1.5.

One run of the shipped demo config (plus one prior-preservation run) through the workflow;
every claim is a comparison of means over seeds (and over the other settings), read from the
score files the report reads. The style measure is `style_colour` (the stills' colours)
together with `style_clip` (the toy CLIP's likeness to the stills); fidelity is
`fidelity_base` (SSIM to the base model's picture of the same seed and prompt).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml

from stylesweep.subjects import TOY_SUBJECTS
from stylesweep.sweep import CONTROLS

from .conftest import REPO, grid_data, snakemake, write_config

PRIOR_RUN = {"prior_loss_weight": 1.0, "text_encoder_fraction": 0.1}


def demo_config() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["train"]["extra_runs"] = [*config["train"]["extra_runs"], PRIOR_RUN]
    return config


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("demo")
    write_config(workdir, demo_config())
    result = snakemake(workdir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


@pytest.fixture(scope="module")
def every_strength(demo) -> list[dict]:
    """Every image's scores: the portrait's and the other subjects' (prompts.subjects), the
    checkpoints at every strength of sample.strengths."""
    found = []
    for path in sorted((demo / "results" / "scores").glob("*.json")):
        found.extend(json.loads(path.read_text())["images"])
    assert {image["subject"] for image in found} == {"portrait", *TOY_SUBJECTS}
    assert {image["strength"] for image in found} == {None, 0.5, 1.0}
    return found


@pytest.fixture(scope="module")
def every_subject(every_strength) -> list[dict]:
    """The images of the base model and of the checkpoints as trained (strength 1)."""
    return [image for image in every_strength if image["strength"] in (None, 1.0)]


@pytest.fixture(scope="module")
def images(every_subject) -> list[dict]:
    """The portrait's images: the blog's findings are about the portrait."""
    return [image for image in every_subject if image["subject"] == "portrait"]


def style(image: dict) -> float:
    return image["style_colour"] + image["style_clip"]


def mean(images: list[dict], measure=style, **where) -> float:
    """The mean of a measure over the images matching `where` (a value, or a predicate)."""

    def matches(image: dict) -> bool:
        return all(
            want(image[key]) if callable(want) else image[key] == want
            for key, want in where.items()
        )

    chosen = [measure(image) for image in images if matches(image)]
    assert chosen, f"no image matches {where}"
    return statistics.fmean(chosen)


def dreambooth(model: str) -> bool:
    return model.startswith("te~")


def step(model: str) -> int:
    return int(model.rsplit("step-", 1)[1])


def test_style_rises_with_steps(images):
    first = mean(images, model=lambda m: dreambooth(m) and step(m) == 20)
    last = mean(images, model=lambda m: dreambooth(m) and step(m) == 40)
    assert last > first


def test_style_rises_with_text_encoder_strength(images):
    weakest = mean(images, model="te~0.05/step-40")
    strongest = mean(images, model="te~0.2/step-40")
    assert strongest > weakest


def test_fidelity_to_the_base_falls_with_steps(images):
    def fidelity(image: dict) -> float:
        return image["fidelity_base"]

    first = mean(images, fidelity, model=lambda m: dreambooth(m) and step(m) == 20)
    last = mean(images, fidelity, model=lambda m: dreambooth(m) and step(m) == 40)
    assert last < first


def test_the_key_at_the_start_moves_the_picture_further_than_at_the_end(images):
    """The blog's finding, that the key first gives "more abstraction": the picture keeps
    less of the base model's, by the content head and by SSIM alike."""
    for measure in (content, lambda image: image["fidelity_base"]):
        start = mean(images, measure, model=dreambooth, variant=lambda v: v.startswith("start_"))
        end = mean(images, measure, model=dreambooth, variant=lambda v: v.startswith("end_"))
        assert start < end


def test_the_keys_weight_moves_style_less_than_its_placement(images):
    """A1111's emphasis scales the key's vector and restores the prompt's mean: at 1.3 it
    moves this small model less than moving the key from the end to the start does."""
    heavier = mean(images, model=dreambooth, variant=lambda v: v.endswith("_w1.3"))
    plain = mean(images, model=dreambooth, variant=lambda v: v.endswith("_w1"))
    start = mean(images, model=dreambooth, variant=lambda v: v.startswith("start_"))
    end = mean(images, model=dreambooth, variant=lambda v: v.startswith("end_"))
    assert abs(heavier - plain) < abs(start - end)


def test_the_base_models_images_score_lowest_on_style(images):
    """Every checkpoint of the demo's runs is more styled than the base model. (The prior
    run keeps the class near the base model by design: at step 20 it has not moved.)"""
    models = {image["model"] for image in images if "prior" not in image["model"]}
    base = mean(images, model="base")
    trained = {m: mean(images, model=m) for m in models - set(CONTROLS)}
    assert all(base < value for value in trained.values()), (base, trained)


def test_prior_preservation_keeps_the_class_closer_to_the_base(demo):
    """The class prompt, rendered by the base model and by two runs that differ only in
    prior preservation: the run with it stays closer to the base's pictures, in structure
    (SSIM) and in the toy CLIP's eyes. Euler (not ancestral), so that the pictures differ by
    the weights alone, not by noise the sampler adds on the way."""
    import numpy as np
    import torch
    from PIL import Image
    from skimage.metrics import structural_similarity

    from stylesweep.clip_model import toy_clip
    from stylesweep.sample import GridRenderer, Recipe

    prompt = demo_config()["train"]["class_prompt"]
    renderer = GridRenderer(demo / "results" / "base" / "model")
    clip, preprocess, _ = toy_clip()

    def render(model: str) -> list[Image.Image]:
        if model != "base":  # the base's pictures come first, before any weights are swapped
            renderer.use_checkpoint(demo / "results" / "train" / model)
        recipes = [
            Recipe(
                model=model,
                model_hash=model,
                variant="class",
                prompt=prompt,
                negative="",
                seed=seed,
                cfg_scale=7.0,
                sampler="Euler",
                steps=20,
                width=64,
                height=64,
                clip_skip=1,
            )  # fmt: skip
            for seed in range(16)
        ]
        return renderer.denoise(recipes)

    @torch.no_grad()
    def features(pictures: list[Image.Image]) -> torch.Tensor:
        return clip.encode_image(torch.stack([preprocess(p) for p in pictures]), normalize=True)

    base = render("base")
    base_features = features(base)

    def closeness(model: str) -> tuple[float, float]:
        pictures = render(model)
        ssim = statistics.fmean(
            structural_similarity(np.asarray(a.convert("L")), np.asarray(b.convert("L")))
            for a, b in zip(base, pictures, strict=True)
        )
        return ssim, float((features(pictures) * base_features).sum(dim=1).mean())

    with_prior = closeness("te~0.1_prior~1/step-40")
    without = closeness("te~0.1/step-40")
    assert with_prior[0] > without[0] and with_prior[1] > without[1], (with_prior, without)


# --- The CSD-style measures (stylesweep.style_content) on the same run --------------------
def csd(image: dict) -> float:
    return image["style_csd"]


def content(image: dict) -> float:
    return image["content"]


def textual_inversion(model: str) -> bool:
    return model.startswith("method~ti")


def test_style_csd_rises_with_steps_and_the_base_model_is_far_from_the_style(images):
    """Textual inversion, the demo's method that takes the stills' texture, rises with steps;
    the DreamBooth runs take the stills' colours more than their texture at 64 px, and the
    style head does not count colours alone (README, "The measures")."""
    first = mean(images, csd, model=lambda m: textual_inversion(m) and step(m) == 20)
    last = mean(images, csd, model=lambda m: textual_inversion(m) and step(m) == 40)
    assert last > first
    base = mean(images, csd, model="base")
    trained = {m: mean(images, csd, model=m) for m in {i["model"] for i in images} - set(CONTROLS)}
    assert statistics.fmean(trained.values()) > base
    assert max(trained.values()) > base + 0.3, (base, trained)


def test_content_kept_falls_with_steps_and_strength(images):
    first = mean(images, content, model=lambda m: dreambooth(m) and step(m) == 20)
    last = mean(images, content, model=lambda m: dreambooth(m) and step(m) == 40)
    assert last < first
    weakest = mean(images, content, model="te~0.05/step-40")
    assert mean(images, content, model="te~0.2/step-40") < weakest


def test_the_style_carries_to_the_subjects_the_stills_never_showed(every_subject):
    """On each of the toy world's other subjects (house, landscape, still life), the
    DreamBooth runs' style (CSD) rises from step 20 to step 40, and the trained models are
    more styled than the base model."""
    for subject in TOY_SUBJECTS:
        mine = [image for image in every_subject if image["subject"] == subject]
        first = mean(mine, csd, model=lambda m: dreambooth(m) and step(m) == 20)
        last = mean(mine, csd, model=lambda m: dreambooth(m) and step(m) == 40)
        assert last > first, (subject, first, last)
        base = mean(mine, csd, model="base")
        trained = mean(mine, csd, model=lambda m: m not in CONTROLS and "prior" not in m)
        assert trained > base, (subject, base, trained)


def test_the_validation_loss_differs_between_base_and_trained_models(demo):
    losses = json.loads((demo / "results" / "validation" / "losses.json").read_text())
    assert len(losses["images"]) == demo_config()["dataset"]["validation_count"]
    measured = {model: value["loss"] for model, value in losses["models"].items()}
    assert set(measured) >= {"base", "te~0.1/step-40"}
    assert all(measured[m] != measured["base"] for m in measured if m != "base")


def test_the_validation_loss_is_the_same_in_another_process(demo, tmp_path):
    """The validate job's numbers again, from a fresh process with the same inputs."""
    import os
    import subprocess
    import sys

    written = json.loads((demo / "results" / "validation" / "losses.json").read_text())
    models = {m: None if m == "base" else str(demo / "results" / "train" / m)
              for m in ("base", "te~0.1/step-40")}  # fmt: skip
    base_hash = json.loads((demo / "results" / "base" / "model_hash.json").read_text())["sha256"]
    code = (
        "import json, sys; from stylesweep.validation import validate_models; "
        "validate_models(models=json.loads(sys.argv[1]), base_dir=sys.argv[2], "
        "base_hash=sys.argv[3], latents_path=sys.argv[4], prompt=sys.argv[5], "
        "out_path=sys.argv[6])"
    )
    prompt = written["prompt"]
    # the thread count the job ran with (snakemake --cores 1): float sums follow it
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    subprocess.run(
        [sys.executable, "-c", code, json.dumps(models), str(demo / "results" / "base" / "model"),
         base_hash, str(demo / "results" / "train" / "latents.safetensors"), prompt,
         str(tmp_path / "losses.json")],
        check=True, capture_output=True, env={**os.environ, **threads},
    )  # fmt: skip
    again = json.loads((tmp_path / "losses.json").read_text())["models"]
    for model in models:
        assert again[model] == written["models"][model], model


def test_half_strength_keeps_more_content_and_less_style(every_strength, demo):
    """Every checkpoint keeps more of the base model's subject at strength 0.5 than at 1,
    and the checkpoints take less of the style on average (not each one: the LoRA's step 40
    at 1 has lost the style its step 20 had, and at 0.5 holds more of it)."""
    checkpoints = {image["checkpoint"] for image in every_strength} - set(CONTROLS)
    at = {
        strength: {
            c: (mean(every_strength, csd, checkpoint=c, strength=strength),
                mean(every_strength, content, checkpoint=c, strength=strength))
            for c in checkpoints
        }
        for strength in (0.5, 1.0)
    }  # fmt: skip
    assert all(at[0.5][c][1] > at[1.0][c][1] for c in checkpoints), at
    assert statistics.fmean(v[0] for v in at[0.5].values()) < statistics.fmean(
        v[0] for v in at[1.0].values()
    )
    html = (demo / "results" / "report" / "index.html").read_text()
    axes = {axis["name"]: axis["values"] for axis in grid_data(html)["axes"]}
    assert axes["strength"] == [0.5, 1.0]
    assert 'id="chart-strength"' in html and 'id="compare-data"' in html
    assert " at strength " in html.split('id="decision"')[1].split("</p>")[0]


def test_the_stills_words_name_the_worlds_style(demo):
    """The words first, as the blog began: interrogating the demo's stills names a style the
    toy world knows among the words the control uses."""
    stills = json.loads((demo / "results" / "prompts" / "stills.json").read_text())
    used = stills["words"][: demo_config()["prompts"]["words_baseline"]]
    assert {"psychedelic art", "pop art"} & set(used), used
    assert len(stills["stills"]) == len(
        json.loads((demo / "results" / "dataset" / "manifest.json").read_text())["images"]
    )


def test_the_words_control_has_more_style_than_the_base_model(every_subject):
    """The words move the base model toward the stills (whether they beat any checkpoint is
    reported as it comes: README, "Words first")."""
    assert mean(every_subject, csd, model="words") > mean(every_subject, csd, model="base")


def test_the_report_places_the_words_among_the_checkpoints(demo):
    html = (demo / "results" / "report" / "index.html").read_text()
    assert "With the stills&#39; words in place of the key, the base model reached" in html
    assert grid_data(html)["controls"] == ["base", "words"]
    rows = (demo / "results" / "report" / "summary.csv").read_text().splitlines()
    assert any(row.startswith("words,") or ",words," in row for row in rows)


def test_auto_captions_train_the_demo_run_on_each_stills_content(demo):
    captions = json.loads((demo / "results" / "captions" / "auto.json").read_text())["images"]
    assert all(c["training_caption"].endswith(", vsynth") for c in captions)
    assert len({c["caption"] for c in captions}) > 1  # each still's own
    manifest = json.loads((demo / "results/train/captions~auto/step-20/manifest.json").read_text())
    assert manifest["settings"]["captions"] == "auto"


def test_the_demo_restyles_its_clip_to_its_soundtrack(demo):
    """The demo's `restyle`: the stills' clip through a trained model, its frames following
    the clip (colours past the cut), zooming on the soundtrack's kicks, with the sound."""
    import av
    import numpy as np

    from stylesweep.animate.render import load_frame
    from stylesweep.animate.source import clip_frames

    out = demo / "results" / "animate" / "restyle"
    made = json.loads((out / "settings.json").read_text())
    assert made["frames"] == 16 and made["video_frames"] == 31 and made["video_fps"] == 16
    beats = np.flatnonzero(made["soundtrack"]["features"]["beat"]).tolist()
    assert beats == [frame for frame in range(16) if frame % 4 == 0]  # a kick every 0.5 s
    assert [r["frame"] for r in made["recipes"] if r["zoom"] > 1] == beats
    with av.open(str(out / "animation.mp4")) as container:
        assert {stream.type for stream in container.streams} == {"video", "audio"}
    # each frame is nearer in colour to its own clip frame than to the other scene's
    sources, _ = clip_frames(demo / made["clip"]["file"], 8, 1, 64, 16)
    for frame, other in ((3, 13), (13, 3)):
        mine = load_frame(out, frame).reshape(-1, 3).mean(axis=0)
        assert (
            np.abs(mine - sources[frame].reshape(-1, 3).mean(axis=0)).sum()
            < np.abs(mine - sources[other].reshape(-1, 3).mean(axis=0)).sum()
        ), frame
