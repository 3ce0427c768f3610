"""Every stage's library function run once on the tiny model, from stills to report, and
the files each writes. tests/test_stage_versions.py fingerprints them; run as a module it
writes the summaries to a JSON file, so that another process (other threads, other float
kernels: a stand-in for another machine) can be compared with this one:

    python -m tests.stage_chain summaries.json [FOLDER TO KEEP THE FILES IN]
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path

from stylesweep.settings import SampleSettings

from .conftest import animation_settings, placing, synthetic_report, train_settings
from .fingerprints import summarise

Outputs = dict[str, tuple[list[Path], Path]]


def tree(folder: Path, pattern: str = "*") -> list[Path]:
    return [p for p in Path(folder).rglob(pattern) if p.is_file()]


def run_chain(root: Path, tiny_model: Path, interrogator) -> Outputs:
    """Run each stage into `root`; each stage's files and the folder they are named under."""
    from stylesweep import report as report_module
    from stylesweep.animate.render import render_animation
    from stylesweep.captions import caption_dataset, read_dataset_sidecars
    from stylesweep.dataset import encode_dataset, prepare_dataset
    from stylesweep.demo import write_demo_clip, write_demo_soundtrack, write_demo_stills
    from stylesweep.export import export_checkpoint
    from stylesweep.files import (
        publish_tree,
        read_safetensors,
        sha256_tree,
        write_json,
        write_safetensors,
    )
    from stylesweep.interrogate import interrogate, load_interrogator
    from stylesweep.prior import render_class_images
    from stylesweep.prompts import make_variants
    from stylesweep.sample import sample_models
    from stylesweep.score import score_group
    from stylesweep.sources import astronaut_path
    from stylesweep.toy.world import demo_portrait_index, draw
    from stylesweep.train import train_segment
    from stylesweep.validation import validate_models
    from stylesweep.votes import fit_votes_files
    from stylesweep.words import interrogate_stills, words_variants

    found: Outputs = {}
    write_demo_stills(root / "stills", count=3, size=64)
    found["make_demo_stills"] = (tree(root / "stills"), root)
    prepare_dataset(root / "stills", root / "dataset", resolution=64, crop="center")
    found["prepare_dataset"] = (tree(root / "dataset"), root)
    caption_dataset(
        root / "dataset", caption_model="builtin:toy", template="{caption}, {key}", key="vsynth",
        cache_dir=root / "labels", manifest_path=root / "captions" / "auto.json",
        sidecar_dir=root / "captions" / "auto",
    )  # fmt: skip
    found["caption_stills"] = (tree(root / "captions"), root)
    for number, still in enumerate(sorted((root / "stills").glob("*.png"))):
        still.with_suffix(".txt").write_text(f"still {number}, vsynth\n")
    read_dataset_sidecars(root / "dataset", stills_dir=root / "stills",
                          manifest_path=root / "sidecars.json")  # fmt: skip
    found["read_sidecars"] = ([root / "sidecars.json"], root)
    found["make_base_model"] = (tree(tiny_model, "*.safetensors"), tiny_model)
    # The hash's logic, on bytes that are the same on every machine (the tiny model's
    # random weights may differ in their last bits between CPUs).
    hashed = root / "hashed"
    (hashed / "unet").mkdir(parents=True)
    (hashed / "unet" / "a.safetensors").write_bytes(b"unet weights")
    (hashed / "b.safetensors").write_bytes(b"text encoder weights")
    (root / "hash.txt").write_text(sha256_tree(hashed))
    found["hash_base_model"] = ([root / "hash.txt"], root)
    encode_dataset(tiny_model, root / "dataset", root / "latents.safetensors")
    found["encode_dataset"] = ([root / "latents.safetensors"], root)

    runs = {
        "db": train_settings(text_encoder_steps=1, learning_rate=1e-3),
        "ti": train_settings(method="textual_inversion", learning_rate=5e-2),
        "lora": train_settings(method="lora", learning_rate=1e-2, lora_text_encoder=True),
    }
    for name, settings in runs.items():
        train_segment(
            base_dir=tiny_model, base_hash="tiny", latents_path=root / "latents.safetensors",
            settings=settings, start_step=0, end_step=2,
            checkpoint_dir=root / "train" / name / "step-2",
            loss_path=root / "train" / name / "loss.csv", run_name=name,
        )  # fmt: skip
    found["train"] = (tree(root / "train", "step-2/*"), root)

    draw(demo_portrait_index(), 64).image.save(root / "portrait.png")
    found["draw_portrait"] = ([root / "portrait.png"], root)
    prompt = interrogate(interrogator, astronaut_path(), "fast")
    write_json(root / "base.json", {"prompts": [prompt]})
    found["base_prompt"] = ([root / "base.json"], root)
    variants = make_variants(["a portrait, photo"], "vsynth", placing(["start", "end"], [1.0, 1.3]))
    write_json(root / "variants.json", variants)
    found["prompt_variants"] = ([root / "variants.json"], root)
    # the toy world's interrogator: the tiny one's random CLIP ranks its 100k flavours with
    # near-ties that another machine's float kernels swap
    settings = {"clip_model": "builtin:toy", "caption_model": "builtin:toy", "mode": "fast"}
    toy = load_interrogator("builtin:toy", "builtin:toy", root / "labels")
    stills = interrogate_stills(toy, dataset_dir=root / "dataset",
                                portraits=[root / "portrait.png"], settings=settings)  # fmt: skip
    write_json(root / "stills.json", stills)
    found["interrogate_stills"] = ([root / "stills.json"], root)
    words = words_variants(stills, 3, ["a portrait, photo"],
                           placing(["start", "end"], [1.0, 1.3]))  # fmt: skip
    write_json(root / "words.json", words)
    found["words_variants"] = ([root / "words.json"], root)

    groups = {"base": {"base": None}, "db": {"db/step-2": root / "train" / "db" / "step-2"}}
    for group, models in groups.items():
        sample_models(
            models=models, base_dir=tiny_model, base_hash="tiny", variants=variants[:2],
            settings=SampleSettings(seeds=[1], cfg_scales=[7], sampler="Euler a", steps=3,
                                    size=64, clip_skip=1, emphasis="a1111", wrap_length=20,
                                    pad_conds=False, strengths=[0.5, 1.0]),
            batch_size=8, manifest_path=root / "samples" / group / "images.json",
        )  # fmt: skip
    found["sample"] = (tree(root / "samples"), root)
    render_class_images(tiny_model, "tiny", root / "class", prompt="an abstract image",
                        count=2, size=64, sampler="Euler", steps=3, cfg_scale=7.5)  # fmt: skip
    found["render_class_images"] = (tree(root / "class"), root)
    report_module.make_thumbnails(root / "samples" / "db" / "images.json", root / "thumbs", 32)
    found["make_thumbnails"] = (tree(root / "thumbs", "*.webp"), root)

    for group in ("base", "db"):
        score_group(
            samples_manifest=root / "samples" / group / "images.json",
            base_manifest=root / "samples" / "base" / "images.json",
            dataset_dir=root / "dataset", variants=variants[:2], clip_model="builtin:tiny",
            style_model="builtin:toy", structure_model=None,
            out_path=root / "scores" / f"{group}.json",
        )  # fmt: skip
    found["score"] = (tree(root / "scores"), root)
    # the latents with their first image marked held out, as validation_count: 1 marks it
    # (the runs above trained on every image, as the rest of the chain was recorded)
    latents, metadata = read_safetensors(root / "latents.safetensors")
    images = json.loads(metadata["images"])
    images[0]["validation"] = True
    write_safetensors(root / "held_out.safetensors", latents, {"images": json.dumps(images)})
    validate_models(
        models={"base": None, "db/step-2": root / "train" / "db" / "step-2"},
        base_dir=tiny_model, base_hash="tiny", latents_path=root / "held_out.safetensors",
        prompt="an abstract pattern, vsynth", out_path=root / "validation" / "losses.json",
    )  # fmt: skip
    found["validate"] = (tree(root / "validation"), root)

    # votes: the checkpoint at strength 1 beats the others, the base and strength 0.5 tie
    manifests = [root / "samples" / group / "images.json" for group in groups]
    by_label: dict[str, list[str]] = {}
    for manifest in manifests:
        for image in json.loads(manifest.read_text())["images"]:
            by_label.setdefault(image["model"], []).append(image["key"])
    ballots = []
    for one, half, base in zip(by_label["db/step-2"], by_label["db/step-2@0.5"], by_label["base"],
                               strict=True):  # fmt: skip
        ballots += [{"left": one, "right": base, "winner": "left"},
                    {"left": half, "right": one, "winner": "right"},
                    {"left": base, "right": half, "winner": "same"}]  # fmt: skip
    write_json(root / "votes.json", {"votes": ballots})
    with contextlib.chdir(root):  # the file's name as the config gives it, not a temp path
        fit_votes_files(["votes.json"], manifests, ["base", "db/step-2@0.5", "db/step-2"],
                        root / "votes" / "preferences.json")  # fmt: skip
    found["fit_votes"] = ([root / "votes" / "preferences.json"], root)

    for name in runs:
        precision = "fp16" if name == "db" else None
        export_checkpoint(tiny_model, root / "train" / name / "step-2",
                          root / "export" / name, precision=precision)  # fmt: skip
    found["export"] = (tree(root / "export"), root)

    model = {"checkpoint": str(root / "train" / "db" / "step-2"), "key": "vsynth"}
    render_animation(
        name="a", settings=animation_settings(models="db/step-2", init_image="portrait"),
        models={"db/step-2": model}, base_dir=tiny_model, base_hash="tiny",
        text={"clip_skip": 1, "emphasis": "a1111", "wrap_length": 20, "pad_conds": False},
        out_dir=root / "animate", init_image=root / "portrait.png",
    )  # fmt: skip
    write_demo_soundtrack(root / "soundtrack.wav")
    found["make_demo_soundtrack"] = ([root / "soundtrack.wav"], root)
    # a restyled clip: its frames carried along the clip's flow, zooming on the beats
    render_animation(
        name="r", settings=animation_settings(
            models="db/step-2", video_init="clip.mp4", hybrid_motion="optical_flow",
            soundtrack="soundtrack.wav", zoom="0: (1 + 0.1*beat)", fps=4, max_frames=3,
        ), models={"db/step-2": model}, base_dir=tiny_model, base_hash="tiny",
        text={"clip_skip": 1, "emphasis": "a1111", "wrap_length": 20, "pad_conds": False},
        out_dir=root / "restyle", video=write_demo_clip(root / "clip.mp4"),
        soundtrack=root / "soundtrack.wav",
    )  # fmt: skip
    found["animate"] = ([*tree(root / "animate", "*.png"), root / "animate" / "settings.json",
                         *tree(root / "restyle", "*.png"), root / "restyle" / "settings.json"],
                        root)  # fmt: skip

    original = report_module.package_versions
    report_module.package_versions = lambda: {}  # the page records versions; not its logic
    try:
        index = synthetic_report(root / "report")
    finally:
        report_module.package_versions = original
    found["report"] = ([index], index.parent)
    publish_tree(index.parent, root / "published")
    found["publish_report"] = (tree(root / "published"), root / "published")
    return found


def summarise_chain(outputs: Outputs) -> dict[str, dict]:
    return {stage: summarise(files, root) for stage, (files, root) in outputs.items()}


def build_and_run(folder: Path) -> Outputs:
    """The tiny model and interrogator built in `folder`, then the chain run there."""
    from stylesweep.base import build_tiny_model
    from stylesweep.interrogate import load_interrogator

    tiny_model = build_tiny_model(folder / "base" / "model")
    interrogator = load_interrogator("builtin:tiny", "builtin:tiny", folder / "cache")
    return run_chain(folder / "stages", tiny_model, interrogator)


def main(out_path: str, keep: str | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="stylesweep-chain-") as folder:
        outputs = build_and_run(Path(keep or folder))  # kept: for a look, or to summarise again
        Path(out_path).write_text(json.dumps(summarise_chain(outputs)))


if __name__ == "__main__":
    main(*sys.argv[1:3])
