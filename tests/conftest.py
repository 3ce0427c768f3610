from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The built-in tiny model, built once per test session."""
    from stylesweep.base import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("base") / "model")


@pytest.fixture(scope="session")
def components(tiny_model):
    from stylesweep.base import load_components

    return load_components(tiny_model)


@pytest.fixture(scope="session")
def latents(tiny_model, tmp_path_factory) -> Path:
    """Three demo stills encoded by the tiny model's VAE, as the train stage reads them."""
    from stylesweep.dataset import encode_dataset, prepare_dataset
    from stylesweep.demo import write_demo_stills

    root = tmp_path_factory.mktemp("train")
    write_demo_stills(root / "stills", count=3, size=64)
    prepare_dataset(root / "stills", root / "dataset", resolution=64, crop="center")
    encode_dataset(tiny_model, root / "dataset", root / "latents.safetensors")
    return root / "latents.safetensors"


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """clip-interrogator's label cache of the tiny CLIP, built once per test session."""
    return tmp_path_factory.mktemp("clip-interrogator")


@pytest.fixture(scope="session")
def interrogator(cache):
    from stylesweep.interrogate import load_interrogator

    return load_interrogator("builtin:tiny", "builtin:tiny", cache)


# --- The workflow, run as a user runs it -------------------------------------------------
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def small_config() -> dict:
    """The shipped demo config, cut down to a few minutes on two cores."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"].update(demo_count=4, validation_count=0)  # validation: the demo's test
    config["train"].update(max_steps=4, checkpoint_every=2)
    config["train"]["sweep"] = {"text_encoder_fraction": [0.25]}
    config["train"]["extra_runs"] = [{"method": "textual_inversion", "learning_rate": 0.05}]
    config["prompts"].update(
        placements=["start", "end"],
        weights=[1.0, 1.2],
        subjects={"house": "a house, blue sky"},
        words_baseline=0,  # the words control: the demo's test (test_style_learning.py)
    )
    config["sample"].update(seeds=[1, 2], cfg_scales=[3, 7], steps=4, strengths=[1.0])
    config["animate"]["animations"]["drift"].update(
        models={0: "te~0.25/step-2", 2: "te~0.25/step-4"}, max_frames=4, steps=4
    )
    # the demo's restyled clip is its own test's (test_style_learning.py); here a short
    # animation of the base model zooms on the beats of the demo's soundtrack, whose sound
    # the report's browser tests play
    animations = config["animate"]["animations"]
    del animations["restyle"]
    animations["beat"] = {
        "models": "base", "prompts": "{key}, an abstract pattern", "soundtrack": "builtin:demo",
        "zoom": "0: (1 + 0.1*beat)", "max_frames": 4, "fps": 8, "size": 64, "steps": 4,
    }  # fmt: skip
    return config


# The SLURM executor plugin is not in .venv: installed there, Snakemake would load it in every
# run, and its start-up query (`scontrol show config`) waits out a 10 s timeout wherever SLURM
# is installed but down, as after tests/test_slurm.py. setup.sh puts it here, and only that
# test puts it on the path.
SLURM_PLUGIN = Path(sys.prefix) / "slurm-plugin"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args,
         "--cores", "1", "--resources", "gpu=1"],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> Path:
    """A workflow folder where the small config has run to the end."""
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir, small_config())
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


# --- A report from hand-made inputs ------------------------------------------------------
EVIL = "<script>alert('x')</script>"


def grid_data(html: str) -> dict:
    """The JSON the report's grid viewer reads, as embedded in index.html."""
    start = html.index('<script type="application/json" id="grid-data">')
    text = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(text)


def synthetic_report(
    root: Path,
    *,
    size: int = 8,
    models: tuple[str, ...] = ("base", "te~0.1/step-2"),
    seeds: tuple[int, ...] = (1, 2),
    cfg_scales: tuple[float, ...] = (3.0, 7.0),
    subjects: dict[str, str] | None = None,
    **options,
) -> Path:
    """A report of two models, two seeds and two CFG scales (unless told other ones, of a
    single run), with a script tag in every text a user controls: the title, the base
    prompt, the key and a still's file name. With `subjects`, each is rendered beside the
    portrait, its style score raised by 0.5 for trained models."""
    from PIL import Image

    from stylesweep.files import read_json, write_json
    from stylesweep.prompts import make_variants
    from stylesweep.report import build_report
    from stylesweep.summary import by_subject

    dataset = root / "dataset"
    dataset.mkdir(parents=True)
    Image.new("RGB", (size, size)).save(dataset / "a.png")
    Image.new("RGB", (size, size), "red").save(dataset / "clip_001500ms.png")
    write_json(dataset / "manifest.json", {
        "resolution": size, "crop": "center",
        "images": [{"file": "a.png", "source": f"{EVIL}.png", "sha256": "0" * 64,
                    "original_size": [size, size]},
                   {"file": "clip_001500ms.png", "source": "clip.mp4", "time": 1.5,
                    "taken": "scene change", "sha256": "1" * 64, "original_size": [16, 8]}],
        "skipped": [{"source": "b.txt", "reason": "not an image file (.txt)"}],
        "videos": [{"source": "clip.mp4", "duration": 3.0, "fps": 8.0, "frames_taken": 2,
                    "frames_kept": 1, "frames_dropped": 1}],
        "dropped": [{"source": "clip.mp4", "time": 0.5, "reason": "blurred (variance 3.1)"}],
    })  # fmt: skip
    base_prompt = f"a portrait {EVIL}"
    write_json(root / "base.json", {"prompts": [{"prompt": base_prompt, "source": "config"}]})
    variants = make_variants(base_prompt, "vsynth", placing(["start"], [1.0], subjects=subjects))
    write_json(root / "variants.json", variants)
    manifests = []
    for group in dict.fromkeys(model.split("/")[0] for model in models):
        folder = root / "samples" / group
        images = []
        for model, seed, cfg, variant in itertools.product(models, seeds, cfg_scales, variants):
            if model.split("/")[0] == group:
                step = model.partition("/")[2]
                name = f"{step + '/' if step else ''}{variant['name']}/seed{seed}_cfg{cfg:g}_x.png"
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                colour = (seed * 50, int(cfg) * 20, 100 if model == "base" else 200)
                Image.new("RGB", (size, size), colour).save(folder / name)
                images.append({"model": model, "model_hash": "f" * 64, "seed": seed,
                               "variant": variant["name"], "cfg_scale": cfg,
                               "file": name})  # fmt: skip
        write_json(folder / "images.json", {"images": images})
        manifests.append(folder / "images.json")
    (root / "loss.csv").write_text("step,loss\n1,0.5\n2,0.25\n")
    metrics = {"mean": 0.5, "std": 0.1}
    rows = []
    for manifest in manifests:
        for image in read_json(manifest)["images"]:
            fidelity = None if image["model"] == "base" else 1.1 - 0.5 * image["seed"]
            subject = next(v["subject"] for v in variants if v["name"] == image["variant"])
            style = 0.2 * image["seed"] + image["cfg_scale"] / 100
            if subject != "portrait" and image["model"] != "base":
                style += 0.5
            rows.append({**image, "subject": subject, "style_colour": style, "style_csd": style,
                         "style_clip": 0.5, "fidelity_prompt": 0.5, "fidelity_base": fidelity,
                         "content": fidelity, "fidelity_dino": fidelity, "still_likeness": 0.1,
                         "nearest_still": "a.png"})  # fmt: skip
    write_json(root / "scores.json", {"images": rows, "models": {
        model: {k: metrics for k in ("style_colour", "style_csd", "style_clip", "fidelity_prompt",
                                     "diversity")}
        | {"still_likeness": {"mean": 0.1, "std": 0.0}}
        | {k: {"mean": None, "std": None} if model == "base" else metrics
           for k in ("fidelity_base", "content", "fidelity_dino")}
        for model in models
    }, "subjects": by_subject(rows)})  # fmt: skip
    last = max(int(model.rpartition("-")[2]) for model in models if model != "base")
    run = {"method": "dreambooth", "key": EVIL, "max_steps": last, "checkpoint_every": 2}
    sample = {"cfg_scales": list(cfg_scales), "seeds": list(seeds), "sampler": "Euler a",
              "steps": 4, "size": size}  # fmt: skip
    return build_report(
        out_dir=root / "report", dataset_dir=dataset, base_prompt_file=root / "base.json",
        variants_file=root / "variants.json", models=list(models),
        runs={"te~0.1": run}, sample_manifests=manifests, score_files=[root / "scores.json"],
        loss_files={"te~0.1": [root / "loss.csv"]}, sample=sample, base_model="builtin:tiny",
        title=f"t {EVIL}", thresholds=score_thresholds(), **options,
    )  # fmt: skip


def score_thresholds() -> dict:
    """The schema's copy and collapse thresholds, as the workflow passes them to the report."""
    from stylesweep.config import load_schema, section_defaults

    score = section_defaults(load_schema(REPO / "schemas" / "config.schema.yaml"), "score")
    return {key: score[key] for key in ("copy_threshold", "collapse_ratio")}


@pytest.fixture(scope="session")
def class_latents(tiny_model, tmp_path_factory) -> Path:
    """Three class images rendered by the tiny model and encoded, for prior preservation."""
    from stylesweep.prior import render_class_images

    return render_class_images(
        tiny_model, "tiny", tmp_path_factory.mktemp("class"), prompt="an abstract image", count=3,
        size=64, sampler="Euler", steps=4, cfg_scale=7.5,
    )  # fmt: skip


# --- Settings as the workflow fills them in: the schema's defaults, then overrides -------
SCHEMA = REPO / "schemas" / "config.schema.yaml"


def schema_defaults() -> dict:
    """A config with only the required keys, completed from the schema's defaults."""
    from snakemake.utils import validate

    config = {"train": {"key": "vsynth"}}
    validate(config, str(SCHEMA), set_default=True)
    return config


def animation_settings(**overrides) -> dict:
    """An animation's settings: the schema's defaults, small (3 frames of 64 px, 4 steps,
    moving), then `overrides`."""
    from snakemake.utils import validate

    settings = {"models": "base", "prompts": "{key}, a pattern", "size": 64, "steps": 4,
                "max_frames": 3, "zoom": "0: (1.1)", "angle": "0: (5)", **overrides}  # fmt: skip
    config = {"train": {"key": "vsynth"}, "animate": {"animations": {"a": settings}}}
    validate(config, str(SCHEMA), set_default=True)
    return config["animate"]["animations"]["a"]


def render_killed(monkeypatch, after: int, render_call) -> None:
    """Run `render_call` (an animation's render) with the frame saver stopping it after
    `after` frames are saved, as when the job is killed; then put the saver back."""
    from stylesweep.animate import render

    original, saved = render.save_frame, []

    def dies(pixels, out_dir, recipe):
        if len(saved) == after:
            raise KeyboardInterrupt  # as when the job is killed
        original(pixels, out_dir, recipe)
        saved.append(recipe["frame"])

    monkeypatch.setattr(render, "save_frame", dies)
    with pytest.raises(KeyboardInterrupt):
        render_call()
    monkeypatch.setattr(render, "save_frame", original)


def placing(placements, weights, subjects=None, subject_weights=None, negative=""):
    """PromptSettings for make_variants: where the key goes, at which weights."""
    from stylesweep.settings import PromptSettings

    return PromptSettings(placements, weights, subjects or {}, subject_weights, negative)


def sample_settings(**overrides):
    """SampleSettings with the schema's defaults, then `overrides`."""
    from dataclasses import replace

    from stylesweep.settings import SampleSettings

    return replace(SampleSettings.from_config(schema_defaults()["sample"]), **overrides)


def train_settings(**overrides):
    """TrainSettings of a segment with the schema's defaults, then `overrides` (segment
    fields such as text_encoder_steps are given directly). Tests train a handful of steps,
    so the rate is constant unless a test asks for a schedule."""
    from dataclasses import fields

    from stylesweep.settings import TrainSettings

    train = schema_defaults()["train"]
    names = {field.name for field in fields(TrainSettings)}
    values = {k: v for k, v in train.items() if k in names}
    values.update(lr_schedule="constant", lr_horizon=None, text_encoder_steps=0)
    return TrainSettings(**{**values, **overrides})


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slurm: profiles/slurm, on a one-node SLURM cluster that the test starts"
    )
    # The plan's tables and activations (stylesweep.plan), cached for this session only, in
    # every test and every snakemake the tests start: the user's cache is left as found.
    os.environ["STYLESWEEP_CACHE"] = tempfile.mkdtemp(prefix="stylesweep-plan-cache-")


def pytest_unconfigure(config):
    shutil.rmtree(os.environ.pop("STYLESWEEP_CACHE", ""), ignore_errors=True)
