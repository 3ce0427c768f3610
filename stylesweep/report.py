"""The HTML comparison report: a static folder that opens from disk, with no network."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape
from PIL import Image

from stylesweep.files import read_json, write_json, write_text
from stylesweep.score import recommend
from stylesweep.sweep import checkpoint_steps
from stylesweep.versions import package_versions

TINY_NOTE = (
    "This report was made with the built-in tiny model. Tiny models turn noise into colour "
    "studies, not art: the pictures show that every stage ran and how settings move the "
    "output, not what Stable Diffusion would paint. Set base_model in config.yaml to a local "
    "Stable Diffusion 1.5 folder (see README, 'Real weights') for real images."
)
THUMBNAIL_QUALITY = 80


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def read_losses(paths: list[str | Path]) -> list[tuple[int, float]]:
    rows: list[tuple[int, float]] = []
    for path in paths:
        with open(path, newline="") as handle:
            rows += [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(handle)]
    return sorted(rows)


def loss_plot(points: list[tuple[int, float]], width: int = 360, height: int = 120) -> str:
    """An inline SVG polyline of loss against step (numbers only, so it needs no escaping)."""
    if not points:
        return ""
    steps = [p[0] for p in points]
    values = [p[1] for p in points]
    x0, x1 = min(steps), max(steps)
    y0, y1 = min(values), max(values)
    span_x, span_y = max(x1 - x0, 1), max(y1 - y0, 1e-12)
    xs = [4 + (s - x0) / span_x * (width - 8) for s in steps]
    ys = [height - 4 - (v - y0) / span_y * (height - 8) for v in values]
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    labels = (
        f'<text x="{width - 4}" y="12" text-anchor="end">loss {y1:.3g}</text>'
        f'<text x="{width - 4}" y="{height - 6}" text-anchor="end">loss {y0:.3g}</text>'
        f'<text x="4" y="{height - 6}">steps {x0} to {x1}</text>'
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'class="loss" role="img" font-size="10" fill="currentColor">'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.2" points="{coords}"/>'
        f"{labels}</svg>"
    )


METRIC_LABELS = {
    "style_colour": "style (colours)",
    "style_clip": "style (CLIP)",
    "fidelity_base": "fidelity to base (SSIM)",
    "fidelity_prompt": "fidelity to prompt (CLIP)",
}


def decision_table(models: list[str], score_files: list[str | Path]) -> dict:
    """Rows of per-model metrics (mean and spread over seeds), the Pareto plot and the picks."""
    summary = {}
    for path in score_files:
        summary.update(read_json(path)["models"])
    picks = recommend(summary)
    rows = [{"model": m, "metrics": summary[m]} for m in models if m in summary]
    return {
        "labels": METRIC_LABELS,
        "rows": rows,
        "picks": picks,
        "plot": pareto_plot(summary, picks),
    }


def pareto_plot(summary: dict, picks: dict, width: int = 420, height: int = 300) -> str:
    """An inline SVG scatter of style against fidelity, the Pareto front joined by a line."""
    if not picks.get("axes"):
        return ""
    style, fidelity = picks["axes"]
    points = {
        m: (v[style]["mean"], v[fidelity]["mean"])
        for m, v in summary.items()
        if v[style]["mean"] is not None and v[fidelity]["mean"] is not None
    }
    xs, ys = [p[0] for p in points.values()], [p[1] for p in points.values()]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            40 + (x - x0) / max(x1 - x0, 1e-9) * (width - 60),
            height - 30 - (y - y0) / max(y1 - y0, 1e-9) * (height - 50),
        )

    front = sorted(picks["front"], key=lambda m: points[m][0])
    line = " ".join("{:.1f},{:.1f}".format(*at(*points[m])) for m in front)
    dots = "".join(
        '<circle cx="{:.1f}" cy="{:.1f}" r="{}"><title>{}</title></circle>'.format(
            *at(*points[m]), 5 if m in front else 3, escape(m)
        )
        for m in points
    )
    # the front's models and the base control are named beside their dots
    labels = {m: at(*points[m]) for m in points if m in front or m == "base"}
    dots += "".join(
        f'<text x="{min(x + 7, width - 110):.1f}" y="{y - 6:.1f}" font-size="10">{escape(m)}</text>'
        for m, (x, y) in labels.items()
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="pareto" '
        f'role="img" font-size="11" fill="currentColor">'
        f'<polyline fill="none" stroke="currentColor" stroke-dasharray="4 3" points="{line}"/>'
        f"{dots}"
        f'<text x="{width / 2:.0f}" y="{height - 8}" text-anchor="middle">'
        f"{METRIC_LABELS[style]} →</text>"
        f'<text x="12" y="{height / 2:.0f}" transform="rotate(-90 12 {height / 2:.0f})" '
        f'text-anchor="middle">{METRIC_LABELS[fidelity]} →</text></svg>'
    )


def make_thumbnail(source: Path, target: Path, size: int) -> bool:
    """Write a WebP thumbnail at most `size` px a side; False (and no file) when the image is
    that small already, or when its thumbnail would weigh more than the image.

    The grids show thumbnails and load the full image only on a click, so a report of a
    thousand 512 px images stays light.
    """
    with Image.open(source) as image:
        if max(image.size) <= size:
            return False
        image = image.convert("RGB")
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, "WEBP", quality=THUMBNAIL_QUALITY, method=4)
    if target.stat().st_size >= source.stat().st_size:  # flat images compress well as PNG
        target.unlink()
        return False
    return True


def settings_line(image_path: Path) -> str:
    """The last line of an image's A1111 `parameters` text: steps, sampler, CFG, seed, model."""
    with Image.open(image_path) as image:
        return image.text.get("parameters", "").rsplit("\n", 1)[-1]


def portrait_labels(variants: list[dict]) -> dict[str, str]:
    """`p1`, `p2`, ... for each distinct base prompt, in order."""
    labels: dict[str, str] = {}
    for variant in variants:
        labels.setdefault(variant["base_prompt"], f"p{len(labels) + 1}")
    return labels


def collect_images(
    sample_manifests: list[str | Path],
    models: list[str],
    out_dir: Path,
    thumbnail_size: int,
) -> tuple[list[dict], dict[str, str]]:
    """Every rendered image of a model still in the config, linked into out_dir/images/ with
    a thumbnail under out_dir/thumbs/; and each model's weights hash."""
    wanted = set(models)
    images, model_hashes = [], {}
    for manifest_path in sample_manifests:
        folder = Path(manifest_path).parent
        for image in read_json(manifest_path)["images"]:
            model = image["model"]
            if model not in wanted:
                continue  # rendered for a model no longer in the config
            model_hashes[model] = image["model_hash"]
            full = Path("images") / folder.name / image["file"]
            _link_or_copy(folder / image["file"], out_dir / full)
            thumb = (Path("thumbs") / folder.name / image["file"]).with_suffix(".webp")
            has_thumb = make_thumbnail(out_dir / full, out_dir / thumb, thumbnail_size)
            images.append(
                {
                    "model": model,
                    "seed": image["seed"],
                    "cfg": image["cfg_scale"],
                    "variant": image["variant"],
                    "full": full.as_posix(),
                    "settings": settings_line(out_dir / full),
                }
                | ({"thumb": thumb.as_posix()} if has_thumb else {})
            )
    return images, model_hashes


def grid_axes(models: list[str], runs: dict[str, dict], variants: list[dict], sample: dict):
    """The axes a grid can be laid out along, each with its values in config order."""
    steps = sorted({step for settings in runs.values() for step in checkpoint_steps(settings)})

    def unique(values):
        return list(dict.fromkeys(values))

    return [
        {"name": "model", "label": "model (run and step)", "values": models},
        {"name": "run", "label": "run", "values": ["base", *runs]},
        {"name": "step", "label": "step", "values": steps},
        {"name": "seed", "label": "seed", "values": sample["seeds"]},
        {"name": "cfg", "label": "CFG scale", "values": sample["cfg_scales"]},
        {"name": "placement", "label": "key placement",
         "values": unique(v["placement"] for v in variants)},
        {"name": "weight", "label": "key weight", "values": unique(v["weight"] for v in variants)},
        {"name": "portrait", "label": "base prompt",
         "values": unique(v["portrait"] for v in variants)},
    ]  # fmt: skip


def run_table(runs: dict[str, dict]) -> dict:
    """The runs with the settings that differ between them, for the overview."""
    keys = [k for k in next(iter(runs.values()), {}) if k not in ("method",)]
    differing = [k for k in keys if len({json.dumps(r.get(k)) for r in runs.values()}) > 1]
    rows = [
        {
            "run": name,
            "method": settings["method"],
            "settings": {k: settings.get(k) for k in differing},
            "checkpoints": checkpoint_steps(settings),
        }
        for name, settings in runs.items()
    ]
    return {"columns": differing, "rows": rows}


def image_weight(out_dir: Path, images: list[dict]) -> dict:
    """Bytes of the thumbnails the grids show and of the full images behind a click."""

    def size(paths) -> int:
        return sum((out_dir / p).stat().st_size for p in set(paths))

    return {
        "images": len(images),
        "thumbnails": size(im.get("thumb", im["full"]) for im in images),
        "full": size(im["full"] for im in images),
    }


def build_report(
    *,
    out_dir: str | Path,
    dataset_dir: str | Path,
    base_prompt_file: str | Path,
    variants_file: str | Path,
    models: list[str],
    runs: dict[str, dict],
    sample_manifests: list[str | Path],
    score_files: list[str | Path],
    loss_files: dict[str, list[str | Path]],
    animations: list[str | Path] = (),
    config: dict,
    title: str,
    thumbnail_size: int = 256,
) -> Path:
    """Write out_dir/index.html with images linked into out_dir/images/ and thumbnails in
    out_dir/thumbs/."""
    out_dir, dataset_dir = Path(out_dir), Path(dataset_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = read_json(dataset_dir / "manifest.json")
    for entry in dataset["images"]:
        _link_or_copy(dataset_dir / entry["file"], out_dir / "dataset" / entry["file"])

    variants = read_json(variants_file)
    labels = portrait_labels(variants)
    for variant in variants:
        variant["portrait"] = labels[variant["base_prompt"]]
    images, model_hashes = collect_images(sample_manifests, models, out_dir, thumbnail_size)
    grid_data = {
        "axes": grid_axes(models, runs, variants, config["sample"]),
        "variants": [
            {k: v[k] for k in ("name", "placement", "weight", "portrait", "prompt", "negative")}
            for v in variants
        ],
        "images": images,
    }

    clips = []
    for path in map(Path, animations):
        _link_or_copy(path, out_dir / "animations" / path.name)
        kind = "video" if path.suffix.lower() in (".mp4", ".webm") else "image"
        clips.append({"file": f"animations/{path.name}", "name": path.stem, "kind": kind})

    training = []
    for run, paths in loss_files.items():
        points = read_losses(paths)
        training.append(
            {
                "run": run,
                "svg": loss_plot(points),
                "steps": len(points),
                "last": points[-1][1] if points else None,
            }
        )

    environment = Environment(
        loader=PackageLoader("stylesweep", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    template = environment.get_template("report.html.j2")
    context = dict(
        title=title,
        tiny_note=TINY_NOTE if config["base_model"] == "builtin:tiny" else None,
        base_prompts=base_prompts_of(base_prompt_file, labels),
        variants=variants,
        models=models,
        model_hashes=model_hashes,
        runs=run_table(runs),
        sample=config["sample"],
        grid_data=grid_data,
        animations=clips,
        dataset=dataset,
        training=training,
        decision=decision_table(models, score_files),
        config=config,
        config_yaml=yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        versions=package_versions(),
        weight=image_weight(out_dir, images),
        thumbnail_size=thumbnail_size,
    )
    write_text(out_dir / "index.html", template.render(**context))
    weight = {"html": (out_dir / "index.html").stat().st_size, **context["weight"]}
    write_json(out_dir / "weight.json", weight)
    print(
        f"report: {len(images)} images; index.html {weight['html'] / 1e3:.0f} kB, "
        f"thumbnails {weight['thumbnails'] / 1e6:.1f} MB, full images {weight['full'] / 1e6:.1f} MB"
    )
    return out_dir / "index.html"


def base_prompts_of(base_prompt_file: str | Path, labels: dict[str, str]) -> list[dict]:
    prompts = read_json(base_prompt_file)["prompts"]
    for prompt in prompts:
        prompt["label"] = labels.get(prompt["prompt"], "")
    return prompts
