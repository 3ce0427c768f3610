"""The HTML comparison report: a static folder that opens from disk, with no network."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import re
import shutil
from pathlib import Path

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image
from tqdm import tqdm

from stylesweep import charts
from stylesweep.charts import METRIC_LABELS, MODEL_LABELS
from stylesweep.files import read_json, write_json, write_text
from stylesweep.prompts import with_lora
from stylesweep.subjects import ALL as ALL_SUBJECTS
from stylesweep.summary import flags, recommend
from stylesweep.sweep import checkpoint_steps, is_control, model_label, split_label
from stylesweep.tables import metric_rows, summary_rows, write_csv
from stylesweep.versions import package_versions
from stylesweep.votes import metric_agreement
from stylesweep.words import words_section, words_sentence

# What a report made with a built-in model should say about its pictures.
MODEL_NOTES = {
    "builtin:tiny": (
        "This report was made with the built-in tiny model. Tiny models turn noise into colour "
        "studies, not art: the pictures show that every stage ran and how settings move the "
        "output, not what Stable Diffusion would paint. Set base_model in config.yaml to a "
        "local Stable Diffusion 1.5 folder (see README, 'Real weights') for real images."
    ),
    "builtin:toy": (
        "This report was made with builtin:toy, a 64 px model that stylesweep trained on a "
        "drawn world of portraits, houses, landscapes, still lifes and abstract patterns. It "
        "shows the comparison at toy scale: how steps, strength, key placement, weight and CFG "
        "move a portrait toward the style. Set base_model in config.yaml to a local Stable "
        "Diffusion 1.5 folder (see README, 'Real weights') for real images."
    ),
}
THUMBNAIL_QUALITY = 80
THUMBNAILS = "thumbnails.json"  # what a thumbnails job made, and at what size


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists() and os.path.samefile(source, target):
        return
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


def decision_table(
    models: list[str],
    summary: dict,
    runs: list[str],
    thresholds: dict,
    preferences: dict | None = None,
    recommend_by: str = "metrics",
    min_votes: int = 20,
) -> dict:
    """Rows of per-model metrics (mean and spread over seeds) with what disqualifies a model
    (copies, collapse), the Pareto plot and the picks among the models not disqualified.

    With the artist's `preferences` (stylesweep.votes), each row gains its preference and
    the metrics' agreement with the votes is charted; with `recommend_by: votes` and at
    least `min_votes` usable votes, the recommendation is the top-voted model left in."""
    marked = flags(summary, thresholds["copy_threshold"], thresholds["collapse_ratio"])
    picks = recommend(summary, charts.STYLE, charts.FIDELITY, excluded=marked)
    labels = dict(MODEL_LABELS)
    voted = agreement = None
    if preferences is not None:
        labels["preference"] = "preference (votes)"
        for model, fit in preferences["models"].items():
            if model in summary:
                summary[model]["preference"] = {"mean": fit["score"], "std": None,
                                                "low": fit["low"], "high": fit["high"]}  # fmt: skip
        agreement = charts.agreement_chart(agreement_with_votes(preferences, summary))
        eligible = [m for m in preferences["order"] if not is_control(m) and m not in marked]
        if recommend_by == "votes" and preferences["used"] >= min_votes and eligible:
            voted = eligible[0]
    empty = {"mean": None, "std": None}
    rows = [
        {
            "model": m,
            "metrics": {key: summary[m].get(key, empty) for key in labels},
            "flags": marked.get(m, []),
        }
        for m in models
        if m in summary
    ]
    return {
        "labels": labels,
        "rows": rows,
        "picks": picks,
        "voted": voted,
        "votes": preferences,
        "recommend_by": recommend_by,
        "min_votes": min_votes,
        "agreement": agreement,
        "thresholds": thresholds,
        "plot": charts.pareto_chart(summary, picks, runs),
    }


# Measures where less is better: their agreement with the votes is taken with the sign flipped.
LOWER_IS_BETTER = ("validation_loss",)


def agreement_with_votes(preferences: dict, summary: dict) -> dict[str, dict]:
    """Kendall's tau between the votes' ranking and each measure's, over the voted models."""
    flipped = {
        model: {
            key: {**value, "mean": -value["mean"]}
            if key in LOWER_IS_BETTER and value.get("mean") is not None
            else value
            for key, value in measures.items()
        }
        for model, measures in summary.items()
    }
    measured = [key for key in MODEL_LABELS if any(key in m for m in summary.values())]
    return metric_agreement(preferences, flipped, measured)


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


def make_thumbnails(sample_manifest: str | Path, out_dir: str | Path, size: int) -> dict:
    """Thumbnails of every image of one sample job, each at its image's path under out_dir
    (as .webp), and out_dir/thumbnails.json naming them; thumbnails of images no longer
    rendered are removed."""
    folder, out_dir = Path(sample_manifest).parent, Path(out_dir)
    made = {}
    for image in tqdm(read_json(sample_manifest)["images"], desc="thumbnails", unit="image"):
        thumb = Path(image["file"]).with_suffix(".webp")
        if make_thumbnail(folder / image["file"], out_dir / thumb, size):
            made[image["file"]] = thumb.as_posix()
    for stale in set(out_dir.rglob("*.webp")) - {out_dir / t for t in made.values()}:
        stale.unlink()
    manifest = {"size": size, "thumbnails": made}
    write_json(out_dir / THUMBNAILS, manifest)
    return manifest


def settings_line(image_path: Path) -> str:
    """The last line of an image's A1111 `parameters` text: steps, sampler, CFG, seed, model."""
    with Image.open(image_path) as image:
        return image.text.get("parameters", "").rsplit("\n", 1)[-1]


def split_at_seed(line: str, seed: int) -> tuple[str, ...]:
    """A settings line cut around its seed, so that images differing only in their seed
    share one entry in the page: (before, after), or (line,) when it names no such seed."""
    match = re.search(rf"(?:^|, )Seed: ({seed})(?=,|$)", line)
    return (line[: match.start(1)], line[match.end(1) :]) if match else (line,)


def read_scores(score_files: list[str | Path]) -> tuple[dict, list[dict], dict, dict]:
    """The per-model summary, the per-image rows of every score file, the models that
    scored them, and the per-subject summaries ({subject: {model: measures}})."""
    summary, rows, scorers, subjects = {}, [], {}, {}
    for path in score_files:
        scores = read_json(path)
        summary.update(scores["models"])
        rows += scores.get("images", [])
        for subject, models in scores.get("subjects", {}).items():
            subjects.setdefault(subject, {}).update(models)
        for key in ("clip_model", "style_model", "structure_model"):
            if key in scores:
                scorers[key] = scores[key]
    return summary, rows, scorers, subjects


def read_validation(validation_files: list[str | Path]) -> dict[str, dict]:
    """Each model's validation loss (and per timestep), from the validate job's file."""
    losses: dict[str, dict] = {}
    for path in validation_files:
        losses |= read_json(path)["models"]
    return losses


def collect_images(
    sample_manifests: list[str | Path],
    models: list[str],
    out_dir: Path,
    thumbnails: dict[str, Path],
    score_rows: list[dict] = (),
) -> tuple[list[dict], list[tuple[str, ...]], dict[str, str]]:
    """Every rendered image of a model still in the config, linked into out_dir/images/
    with its thumbnail (if it has one; `thumbnails` names each sample group's
    thumbnails.json) under out_dir/thumbs/, as records for the page; the settings lines they
    share; and each model's weights hash.

    A record's thumbnail is at its image's path with thumbs/ for images/ and .webp for the
    suffix, and its settings line is settings[s] with its seed put back in: the page has a
    record for every image, so each one is kept short."""
    wanted = set(models)
    scores = {
        (r["model"], r["variant"], r["seed"], r["cfg_scale"]): [
            None if r.get(m) is None else round(r[m], 3) for m in METRIC_LABELS
        ]
        for r in score_rows
    }
    stills = {
        (r["model"], r["variant"], r["seed"], r["cfg_scale"]): r["nearest_still"]
        for r in score_rows
        if r.get("nearest_still")
    }
    images, settings, model_hashes = [], {}, {}
    for manifest_path in sample_manifests:
        folder = Path(manifest_path).parent
        group = folder.name
        made = read_json(thumbnails[group])["thumbnails"]
        for image in read_json(manifest_path)["images"]:
            model = image["model"]
            if model not in wanted:
                continue  # rendered for a model no longer in the config
            model_hashes[image.get("checkpoint", model)] = image["model_hash"]
            full = Path("images") / group / image["file"]
            _link_or_copy(folder / image["file"], out_dir / full)
            line = split_at_seed(settings_line(out_dir / full), image["seed"])
            record = {
                "model": image.get("checkpoint", model),
                # (a manifest from before strengths: a checkpoint as trained)
                "strength": image.get("strength", None if is_control(model) else 1.0),
                "key": image.get("key") or recipe_key(image["file"]),
                "seed": image["seed"],
                "cfg": image["cfg_scale"],
                "variant": image["variant"],
                "full": full.as_posix(),
                "settings": settings.setdefault(line, len(settings)),
            }
            if image.get("lora"):  # the LoRA's tag in the PNG's prompt, for the lightbox
                record["tag"] = with_lora("", image["lora"], image["strength"])
            if image["file"] in made:
                thumb = made[image["file"]]
                _link_or_copy(
                    Path(thumbnails[group]).parent / thumb, out_dir / "thumbs" / group / thumb
                )
                record["thumb"] = 1
            key = (model, image["variant"], image["seed"], image["cfg_scale"])
            if key in scores:
                record["scores"] = scores[key]
            if key in stills:
                record["still"] = stills[key]
            images.append(record)
    return images, list(settings), model_hashes


def recipe_key(file: str) -> str:
    """The recipe key at the end of an image's file name (`..._<key>.png`)."""
    return Path(file).stem.rpartition("_")[2]


def label_of(record: dict) -> str:
    """The model label of an image record of the page (its checkpoint at its strength)."""
    return model_label(record["model"], record.get("strength"))


def compare_view(
    images: list[dict], summary: dict, models: list[str], out_dir: Path, seed: int
) -> dict:
    """The blind comparison's data: per recipe (variant, seed, CFG), each model's image by
    its recipe key, the models only as numbers (in an order shuffled from `seed`, so that
    not even the number says which is the base model), and their order by the style metric
    (best first), from which the page draws close pairs. Each image is linked as
    out_dir/compare/<key>.png: its usual path names its run and step."""
    shuffled = list(models)
    random.Random(seed).shuffle(shuffled)
    number = {label: i for i, label in enumerate(shuffled)}
    recipes: dict[tuple, list] = {}
    for image in images:
        label = label_of(image)
        if label not in number:
            continue
        row = recipes.setdefault(
            (image["variant"], image["seed"], image["cfg"]), [None] * len(models)
        )
        row[number[label]] = image["key"]
        _link_or_copy(out_dir / image["full"], out_dir / "compare" / f"{image['key']}.png")

    def style(label: str) -> float:
        mean = summary.get(label, {}).get(charts.STYLE, {}).get("mean")
        return -math.inf if mean is None else mean

    ranked = sorted(models, key=style, reverse=True)
    keys = sorted(key for row in recipes.values() for key in row if key)
    return {
        "seed": seed,
        "sweep": hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16],
        "ranked_by": METRIC_LABELS[charts.STYLE],
        "rank": [number[label] for label in ranked],
        "recipes": [row for row in recipes.values() if sum(key is not None for key in row) > 1],
    }


def controls_of(models: list[str]) -> list[str]:
    """The controls among the models (the base model, and the words when rendered)."""
    return [m for m in models if is_control(m)]


def grid_axes(models: list[str], runs: dict[str, dict], variants: list[dict], sample: dict):
    """The axes a grid can be laid out along, each with its values in config order; `models`
    are labels (a checkpoint at a strength), the model axis their checkpoints."""
    steps = sorted({step for settings in runs.values() for step in checkpoint_steps(settings)})

    def unique(values):
        return list(dict.fromkeys(values))

    return [
        {"name": "model", "label": "model (run and step)",
         "values": unique(split_label(m)[0] for m in models)},
        {"name": "strength", "label": "strength", "values": sample.get("strengths", [1.0])},
        {"name": "run", "label": "run", "values": [*controls_of(models), *runs]},
        {"name": "step", "label": "step", "values": steps},
        {"name": "seed", "label": "seed", "values": sample["seeds"]},
        {"name": "cfg", "label": "CFG scale", "values": sample["cfg_scales"]},
        {"name": "placement", "label": "key placement",
         "values": unique(v["placement"] for v in variants)},
        {"name": "weight", "label": "key weight", "values": unique(v["weight"] for v in variants)},
        {"name": "subject", "label": "subject",
         "values": unique(v["subject"] for v in variants)},
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


def thumb_path(record: dict) -> str:
    """Where the page finds an image record's thumbnail: the full image when it has none."""
    if not record.get("thumb"):
        return record["full"]
    return Path("thumbs", *Path(record["full"]).parts[1:]).with_suffix(".webp").as_posix()


def image_weight(out_dir: Path, images: list[dict]) -> dict:
    """Bytes of the thumbnails the grids show and of the full images behind a click."""

    def size(paths) -> int:
        return sum((out_dir / p).stat().st_size for p in set(paths))

    return {
        "images": len(images),
        "thumbnails": size(thumb_path(im) for im in images),
        "full": size(im["full"] for im in images),
    }


def chart_section(
    rows: list[dict],
    models: list[str],
    runs: dict[str, dict],
    variants: list[dict],
    picks: dict,
    validation: dict[str, dict] | None = None,
) -> dict:
    """The charts of the blog's four findings, and the sentences that go with them."""
    if not rows:
        return {}
    names = list(runs)
    steps = {run: checkpoint_steps(settings) for run, settings in runs.items()}
    style, fidelity = charts.STYLE, charts.FIDELITY
    strengths = {split_label(m)[1] for m in models} - {None}
    # Steps and CFG are compared at one strength: 1 (the checkpoints as trained) if rendered.
    reference = 1.0 if 1.0 in strengths or not strengths else max(strengths)
    at_reference = [
        {**row, "model": split_label(row["model"])[0]}
        for row in rows
        if split_label(row["model"])[1] in (None, reference)
    ]
    checkpoints = list(dict.fromkeys(split_label(m)[0] for m in models))
    abstract = charts.abstract_seeds(rows, [m for m in models if not is_control(m)])
    chosen = picks.get("figurative") or models[-1]
    # Placements and weights are compared on the first subject (the portrait): the other
    # subjects may be rendered at fewer weights (prompts.subject_weights).
    portrait = [v for v in variants if v["subject"] == variants[0]["subject"]]
    keyed = [charts.by_placement(rows, portrait, chosen, m) for m in (style, fidelity)]
    best = []
    for summary, metric in zip(keyed, (style, fidelity), strict=True):
        if cell := charts.best_cell(summary):
            placement, weight, cfg, value = cell
            best.append(f"most {METRIC_LABELS[metric]}: {placement}, weight {weight:g}, "
                        f"CFG {cfg:g} ({value:.3f})")  # fmt: skip
    return {
        "steps": charts.steps_chart(
            charts.over_steps(at_reference, steps, style),
            charts.over_steps(at_reference, steps, fidelity),
            names,
            charts.validation_over_steps(validation, steps) if validation else None,
        ),
        "abstract": charts.abstract_chart(abstract),
        "abstract_text": charts.abstract_sentence(abstract),
        "threshold": abstract["threshold"],
        "placement": charts.placement_chart(*keyed),
        "placement_model": chosen,
        "placement_subject": variants[0]["subject"],
        "placement_text": "; ".join(best),
        "cfg": charts.cfg_chart(
            charts.over_cfg(at_reference, checkpoints, style),
            charts.over_cfg(at_reference, checkpoints, fidelity),
            names,
        ),
        "reference_strength": reference if len(strengths) > 1 else None,
        "strength": charts.strength_chart(
            charts.over_strength(rows, style), charts.over_strength(rows, fidelity), names
        )
        if len(strengths) > 1
        else None,
        "labels": METRIC_LABELS,
    }


def animation_clip(video: Path, out_dir: Path) -> dict:
    """An animation of the animate stage as the report shows it: its video, linked into
    out_dir/animations/, and the settings it was made with (from settings.json beside it)."""
    made = read_json(video.parent / "settings.json")
    name = made["name"]
    _link_or_copy(video, out_dir / "animations" / f"{name}.mp4")
    settings = made["settings"]
    keys = ("models", "prompts", "max_frames", "fps", "size", "video_init", "soundtrack")
    shown = {key: settings[key] for key in keys if settings.get(key) is not None}
    soundtrack = made.get("soundtrack")
    return {
        "file": f"animations/{name}.mp4",
        "name": name,
        "frames": made.get("video_frames", made["frames"]),
        "fps": made.get("video_fps", settings["fps"]),
        "diffused": made["frames"],
        "rate": made["diffused_per_second"],
        "sound": soundtrack is not None,
        "chart": charts.animation_chart(
            made.get("recipes", []), soundtrack and soundtrack["features"]
        ),
        "summary": shown,
        "settings_yaml": yaml.safe_dump(settings, sort_keys=True, allow_unicode=True),
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
    validation_files: list[str | Path] = (),
    animations: list[str] = (),
    thumbnails: list[str | Path] | None = None,
    sample: dict,
    base_model: str,
    title: str,
    thresholds: dict,
    thumbnail_size: int = 256,
    preferences_file: str | Path | None = None,
    recommend_by: str = "metrics",
    min_votes: int = 20,
    compare_seed: int = 0,
    stills_file: str | Path | None = None,
    words_file: str | Path | None = None,
    captions_file: str | Path | None = None,
) -> Path:
    """Write out_dir/index.html with images linked into out_dir/images/ and thumbnails into
    out_dir/thumbs/.

    `thumbnails` are the thumbnails.json of make_thumbnails, one per sample manifest; without
    them the thumbnails are made here, `thumbnail_size` px a side. `runs` holds the settings
    each run's training saw, `sample` the sampler's: the page shows them, and nothing else
    of the configuration, so that an edit that changes no picture leaves it alone.
    `stills_file` is the stills' interrogation and `words_file` the words control's prompts
    (stylesweep.words), for "What the words say"; `captions_file` the auto captions
    (stylesweep.captions), shown with the dataset.
    """
    out_dir, dataset_dir = Path(out_dir), Path(dataset_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = read_json(dataset_dir / "manifest.json")
    for entry in dataset["images"]:
        _link_or_copy(dataset_dir / entry["file"], out_dir / "dataset" / entry["file"])

    groups = [Path(m).parent.name for m in sample_manifests]
    if thumbnails is None:  # no thumbnail jobs ran: make the thumbnails in place
        thumbnails = []
        for manifest, group in zip(sample_manifests, groups, strict=True):
            make_thumbnails(manifest, out_dir / "thumbs" / group, thumbnail_size)
            thumbnails.append(out_dir / "thumbs" / group / THUMBNAILS)
    thumbnail_files = dict(zip(groups, map(Path, thumbnails), strict=True))
    thumbnail_size = read_json(thumbnails[0])["size"] if thumbnails else thumbnail_size

    variants = read_json(variants_file)
    summary, score_rows, scorers, subjects = read_scores(score_files)
    validation = read_validation(validation_files)
    for model, measured in validation.items():
        loss = {"mean": measured["loss"], "std": None}  # one figure per model, any subject
        for measures in [summary, *subjects.values()]:
            if model in measures:
                measures[model]["validation_loss"] = loss
    images, settings, model_hashes = collect_images(
        sample_manifests, models, out_dir, thumbnail_files, score_rows
    )
    grid_data = {
        "axes": grid_axes(models, runs, variants, sample),
        "variants": [
            {k: v[k] for k in ("name", "placement", "weight", "subject", "prompt", "negative")}
            for v in variants
        ],
        "metrics": list(METRIC_LABELS.values()),
        "controls": controls_of(models),
        "settings": settings,
        "images": images,
    }

    clips = [animation_clip(Path(path), out_dir) for path in animations if path.endswith(".mp4")]

    training = []
    for run, paths in loss_files.items():
        points = read_losses(paths)
        training.append(
            {
                "run": run,
                "svg": charts.loss_chart(points),
                "steps": len(points),
                "last": points[-1][1] if points else None,
            }
        )

    environment = Environment(
        loader=PackageLoader("stylesweep", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    # The grid's data is the bulk of the page: no spaces after its commas and colons.
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    environment.filters["at_strength"] = at_strength
    template = environment.get_template("report.html.j2")
    preferences = read_json(preferences_file) if preferences_file else None
    decision = decision_table(
        models, summary, list(runs), thresholds, preferences, recommend_by, min_votes
    )
    decision["scorers"] = scorers
    wanted = set(models)
    write_csv(
        out_dir / "metrics.csv",
        metric_rows([r for r in score_rows if r["model"] in wanted], variants),
    )
    marked = {row["model"]: row["flags"] for row in decision["rows"]}
    write_csv(
        out_dir / "summary.csv",
        [
            row
            for subject, measures in [(ALL_SUBJECTS, summary), *subjects.items()]
            for row in summary_rows(
                {m: measures[m] for m in models if m in measures}, marked, subject
            )
        ],
    )
    decision["subjects"] = subject_table(models, subjects)
    words = None
    if stills_file:
        used = read_json(words_file)[0]["words"] if words_file else ""
        sentence = words_sentence(summary, models, charts.STYLE, charts.FIDELITY, METRIC_LABELS)
        words = words_section(read_json(stills_file), used, sentence)
    decision["subject_chart"] = charts.subject_chart(subjects, models)
    context = dict(
        title=title,
        model_note=MODEL_NOTES.get(base_model),
        base_model=base_model,
        keys=list(dict.fromkeys(str(settings.get("key", "")) for settings in runs.values())),
        base_prompts=base_prompts_of(base_prompt_file, variants),
        variants=variants,
        models=models,
        checkpoints=grid_data["axes"][0]["values"],
        compare=compare_view(images, summary, models, out_dir, compare_seed),
        model_hashes=model_hashes,
        runs=run_table(runs),
        sample=sample,
        grid_data=grid_data,
        animations=clips,
        dataset=dataset,
        training=training,
        decision=decision,
        words=words,
        captions=(
            {e["file"]: e["training_caption"] for e in read_json(captions_file)["images"]}
            if captions_file
            else None
        ),
        charts=chart_section(score_rows, models, runs, variants, decision["picks"], validation),
        settings_yaml=yaml.safe_dump(
            {"base_model": base_model, "runs": runs, "sample": sample},
            sort_keys=False,
            allow_unicode=True,
        ),
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


def at_strength(label: str, always: bool = False) -> str:
    """A model label as the page's sentences say it: `lora/step-20 at strength 0.5` (and at
    strength 1 too when `always`: the sweep compares several strengths)."""
    model, strength = split_label(label)
    if strength is None or ("@" not in label and not always):
        return model
    return f"{model} at strength {strength:g}"


def base_prompts_of(base_prompt_file: str | Path, variants: list[dict]) -> list[dict]:
    """The interrogated (or written) base prompts, each labelled with its subject."""
    subjects = {v["base_prompt"]: v["subject"] for v in reversed(variants)}
    prompts = read_json(base_prompt_file)["prompts"]
    for prompt in prompts:
        prompt["label"] = subjects.get(prompt["prompt"], "")
    return prompts


def subject_table(models: list[str], subjects: dict[str, dict]) -> dict:
    """Style and content kept of each model on each subject, for the page's table; empty
    with a single subject, which the decision table already shows."""
    if len(subjects) < 2:
        return {}
    empty = {"mean": None, "std": None}
    rows = [
        {
            "model": model,
            "cells": [
                subjects[s].get(model, {}).get(metric, empty)
                for s in subjects
                for metric in (charts.STYLE, charts.FIDELITY)
            ],
        }
        for model in models
        if any(model in measures for measures in subjects.values())
    ]
    return {"names": list(subjects), "metrics": [charts.STYLE, charts.FIDELITY], "rows": rows}
