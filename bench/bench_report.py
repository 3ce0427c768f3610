"""Report weight benchmark: a report of about 1,000 images at 512 px, built as the workflow
builds it, with the bytes a browser loads for the page and its first grid, against the bytes
of every full-size image (what a page of full images, the plain way, would load).

    python bench/bench_report.py                   # 10 models x 6 variants x 8 seeds x 2 CFG
    python bench/bench_report.py --size 768 --thumbnail 256
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from stylesweep.config import load_schema, section_defaults
from stylesweep.demo import video_synth_still
from stylesweep.files import read_json, write_json
from stylesweep.prompts import infotext
from stylesweep.report import build_report
from stylesweep.sources import astronaut_path
from stylesweep.summary import METRICS, summarise


def photo_like(index: int, size: int) -> Image.Image:
    """A distinct photographic image per index (a shifted, recoloured crop of the astronaut
    portrait with a little grain), so PNG and WebP sizes are those of rendered pictures;
    flat procedural patterns would compress far better than anything Stable Diffusion paints."""
    rng = np.random.default_rng(index)
    with Image.open(astronaut_path()) as photo:
        pixels = np.asarray(photo.convert("RGB").resize((size + 64, size + 64)), dtype=np.float32)
    x, y = rng.integers(0, 64, 2)
    pixels = pixels[y : y + size, x : x + size][:, :, rng.permutation(3)]
    pixels = pixels * rng.uniform(0.7, 1.2, 3) + rng.normal(0, 4, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def score_thresholds() -> dict:
    """The schema's copy and collapse thresholds, as the workflow passes them to the report."""
    schema = load_schema(Path(__file__).parents[1] / "schemas" / "config.schema.yaml")
    score = section_defaults(schema, "score")
    return {key: score[key] for key in ("copy_threshold", "collapse_ratio")}


def write_inputs(root: Path, size: int, models: int, seeds: int, cfgs: list[float]) -> dict:
    """Stills, prompts, rendered images and scores, in the files the report stage reads."""
    dataset = root / "dataset"
    dataset.mkdir(parents=True)
    video_synth_still(0, size).save(dataset / "a.png")
    write_json(dataset / "manifest.json", {"resolution": size, "crop": "center", "skipped": [],
               "images": [{"file": "a.png", "source": "a.png"}]})  # fmt: skip
    base_prompt = "a portrait of an astronaut, studio light, detailed, photograph"
    write_json(root / "base.json", {"prompts": [{"prompt": base_prompt, "source": "config"}]})
    variants = [
        {"name": f"{place}_w{weight:g}", "placement": place, "weight": weight, "negative": "",
         "prompt": f"(vsynth:{weight:g}), {base_prompt}", "base_prompt": base_prompt}
        for place in ("start", "middle", "end") for weight in (1.0, 1.3)
    ]  # fmt: skip
    write_json(root / "variants.json", variants)
    runs = {f"te~0.{i}": {"method": "dreambooth", "max_steps": 6000, "checkpoint_every": 2000}
            for i in range(1, 4)}  # fmt: skip
    names = ["base"] + [f"{run}/step-{step}" for run in runs for step in (2000, 4000, 6000)]
    names = names[:models]
    groups: dict[str, list[dict]] = {}
    rows, index = [], 0
    rng = np.random.default_rng(0)
    for model in names:
        group, _, step = model.partition("/")
        folder = root / "samples" / group
        for variant in variants:
            for seed in range(seeds):
                for cfg in cfgs:
                    name = f"{variant['name']}/seed{seed}_cfg{cfg:g}.png"
                    name = f"step-{step}/{name}" if step else name
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    info = PngInfo()
                    info.add_text("parameters", infotext(
                        variant["prompt"], "", steps=25, sampler="Euler a", cfg_scale=cfg,
                        seed=seed, width=size, height=size, model_hash="0" * 64, model_name=model,
                    ))  # fmt: skip
                    photo_like(index, size).save(folder / name, pnginfo=info)
                    index += 1
                    groups.setdefault(group, []).append(
                        {"model": model, "model_hash": "0" * 64, "variant": variant["name"],
                         "seed": seed, "cfg_scale": cfg, "file": name}
                    )  # fmt: skip
                    measures = rng.uniform(0, 1, len(METRICS)).round(6).tolist()
                    rows.append(groups[group][-1] | dict(zip(METRICS, measures, strict=True)))
                    if model == "base":  # compared with itself: no fidelity
                        rows[-1] |= dict.fromkeys(("fidelity_base", "content", "fidelity_dino"))
    manifests = []
    for group, images in groups.items():
        manifests.append(root / "samples" / group / "images.json")
        write_json(manifests[-1], {"images": images})
    write_json(root / "scores.json", {"images": rows, "models": summarise(rows)})
    sample = {"cfg_scales": cfgs, "seeds": list(range(seeds)), "sampler": "Euler a",
              "steps": 25, "size": size}  # fmt: skip
    return dict(
        dataset_dir=dataset, base_prompt_file=root / "base.json",
        variants_file=root / "variants.json", models=names, runs=runs,
        sample_manifests=manifests, score_files=[root / "scores.json"], loss_files={},
        sample=sample, base_model="bench", title="bench", thresholds=score_thresholds(),
    )  # fmt: skip


def plain_page(out_dir: Path, sample_manifests: list[Path], **_) -> Path:
    """The plain way: every full-size image linked into out_dir/images and one page with an
    <img> and a caption per image; no thumbnails, scores or charts. Takes write_inputs' dict."""
    rows = []
    for manifest in map(Path, sample_manifests):
        for entry in read_json(manifest)["images"]:
            name = f"images/{manifest.parent.name}/{entry['file']}"
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(manifest.parent / entry["file"], out_dir / name)
            except OSError:
                shutil.copyfile(manifest.parent / entry["file"], out_dir / name)
            caption = " ".join(
                [entry["model"], entry["variant"], f"seed {entry['seed']} CFG {entry['cfg_scale']}"]
            )
            rows.append(f'<figure><img src="{html.escape(name)}"><figcaption>'
                        f"{html.escape(caption)}</figcaption></figure>")  # fmt: skip
    page = out_dir / "index.html"
    page.write_text("<!doctype html><title>samples</title>\n" + "\n".join(rows) + "\n")
    return page


def first_screen_bytes(weight: dict, models: int, seeds: int) -> float:
    """Bytes a browser loads for the report's page and its first grid (models x seeds)."""
    return weight["html"] + models * seeds * weight["thumbnails"] / weight["images"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side, px")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--thumbnail", type=int, default=256, help="report.thumbnail_size")
    args = parser.parse_args()
    cfgs = [3.0, 7.0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        inputs = write_inputs(root, args.size, args.models, args.seeds, cfgs)
        print(f"made the inputs in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        index = build_report(out_dir=root / "report", thumbnail_size=args.thumbnail, **inputs)
        seconds = time.perf_counter() - started
        weight = json.loads((index.parent / "weight.json").read_text())
        started = time.perf_counter()
        plain_page(root / "plain", **inputs)
        plain_seconds = time.perf_counter() - started
        images, page = weight["images"], weight["html"]
        first_grid = args.models * args.seeds  # columns: models, rows: seeds
        first = first_screen_bytes(weight, args.models, args.seeds)
        plain = page + weight["full"]
        print(f"{images} images at {args.size} px; report built in {seconds:.1f} s")
        print(f"a plain page of every full image built in {plain_seconds * 1e3:.0f} ms")
        print(f"index.html:                  {page / 1e3:8.0f} kB")
        print(f"thumbnails (all):            {weight['thumbnails'] / 1e6:8.1f} MB")
        print(f"full images (all):           {weight['full'] / 1e6:8.1f} MB")
        print(f"first screen (page + {first_grid} thumbnails): {first / 1e6:6.2f} MB")
        print(f"every full image on one page: {plain / 1e6:7.1f} MB "
              f"({plain / first:.0f}x the first screen)")  # fmt: skip


if __name__ == "__main__":
    main()
