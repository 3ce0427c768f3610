"""The HTML comparison report: a static folder that opens from disk, with no network."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

from stylesweep.files import read_json, write_text
from stylesweep.score import recommend
from stylesweep.versions import package_versions

TINY_NOTE = (
    "This report was made with the built-in tiny model. Tiny models turn noise into colour "
    "studies, not art: the pictures show that every stage ran and how settings move the "
    "output, not what Stable Diffusion would paint. Set base_model in config.yaml to a local "
    "Stable Diffusion 1.5 folder (see README, 'Real weights') for real images."
)


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


def build_report(
    *,
    out_dir: str | Path,
    dataset_dir: str | Path,
    base_prompt_file: str | Path,
    variants_file: str | Path,
    models: list[str],
    sample_manifests: list[str | Path],
    score_files: list[str | Path],
    loss_files: dict[str, list[str | Path]],
    config: dict,
    title: str,
) -> Path:
    """Write out_dir/index.html with images linked into out_dir/images/."""
    out_dir, dataset_dir = Path(out_dir), Path(dataset_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = read_json(dataset_dir / "manifest.json")
    for entry in dataset["images"]:
        _link_or_copy(dataset_dir / entry["file"], out_dir / "dataset" / entry["file"])

    variants = read_json(variants_file)
    base_prompts = read_json(base_prompt_file)["prompts"]
    cfg_scales = config["sample"]["cfg_scales"]
    seeds = config["sample"]["seeds"]
    # grid[variant][seed][model][cfg] = relative image path
    grid: dict = {v["name"]: {s: {m: {} for m in models} for s in seeds} for v in variants}
    model_hashes = {}
    for manifest_path in sample_manifests:
        manifest = read_json(manifest_path)
        group = Path(manifest_path).parent.name
        for image in manifest["images"]:
            model = image["model"]
            if model not in grid[image["variant"]][image["seed"]]:
                continue  # rendered for a model no longer in the config
            model_hashes[model] = image["model_hash"]
            relative = Path("images") / group / image["file"]
            _link_or_copy(Path(manifest_path).parent / image["file"], out_dir / relative)
            grid[image["variant"]][image["seed"]][model][image["cfg_scale"]] = relative.as_posix()

    decision = decision_table(models, score_files)

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
    html = environment.get_template("report.html.j2").render(
        title=title,
        tiny_note=TINY_NOTE if config["base_model"] == "builtin:tiny" else None,
        base_prompts=base_prompts,
        variants=variants,
        models=models,
        model_hashes=model_hashes,
        seeds=seeds,
        cfg_scales=cfg_scales,
        grid=grid,
        dataset=dataset,
        training=training,
        decision=decision,
        config_yaml=yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        versions=package_versions(),
        sample=config["sample"],
    )
    write_text(out_dir / "index.html", html)
    return out_dir / "index.html"
