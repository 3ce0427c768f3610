"""Summaries of the scores: per-model means over seeds, the Pareto front of style against
fidelity, and the two recommended checkpoints. numpy only: the report reads these without
loading torch or CLIP."""

from __future__ import annotations

from collections.abc import Iterable
from statistics import fmean, pstdev

import numpy as np

from stylesweep.sweep import is_control

METRICS = (
    "style_csd",
    "content",
    "fidelity_dino",
    "style_colour",
    "style_clip",
    "fidelity_base",
    "fidelity_prompt",
    "still_likeness",
)


def seed_means(rows: Iterable[dict], metric: str, keys: tuple[str, ...]) -> dict[tuple, dict]:
    """Per group of `keys`, the metric averaged over everything else, seed by seed; rows
    without the metric (the base model's fidelity to itself) are left out.

    Subjects weigh the same whatever their number of prompt variants: a seed's value is the
    mean over subjects of each subject's mean (rows without a subject are one subject)."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        if row.get(metric) is not None:
            seeds = groups.setdefault(tuple(row[k] for k in keys), {})
            subjects = seeds.setdefault(row["seed"], {})
            subjects.setdefault(row.get("subject"), []).append(row[metric])
    return {
        group: {
            seed: fmean([fmean(values) for values in subjects.values()])
            for seed, subjects in seeds.items()
        }
        for group, seeds in groups.items()
    }


def summarise(rows: list[dict]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per model and measure: the mean over seeds of the per-seed mean, and its spread."""
    summary: dict = {model: {} for model in dict.fromkeys(r["model"] for r in rows)}
    for metric in METRICS:
        by_model = seed_means(rows, metric, ("model",))
        for model in summary:
            per_seed = list(by_model.get((model,), {}).values())
            summary[model][metric] = {
                "mean": fmean(per_seed) if per_seed else None,
                "std": pstdev(per_seed) if per_seed else None,
            }
    return summary


def by_subject(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """`summarise` per subject: {subject: {model: {measure: {mean, std}}}}."""
    subjects = dict.fromkeys(row.get("subject") for row in rows)
    return {
        subject: summarise([row for row in rows if row.get("subject") == subject])
        for subject in subjects
    }


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """The models no other model beats on both style and fidelity (higher is better)."""
    return [
        name
        for name, (style, fidelity) in points.items()
        if not any(
            s >= style and f >= fidelity and (s, f) != (style, fidelity)
            for other, (s, f) in points.items()
            if other != name
        )
    ]


def flags(summary: dict, copy_threshold: float, collapse_ratio: float) -> dict[str, list]:
    """Per model, what disqualifies it: "copies a still" (its renders are, on average over
    seeds, more like their nearest training still than `copy_threshold`) and
    "seeds collapse" (its seeds' pictures differ, on average over recipes, less than
    `collapse_ratio` times the base model's do: relative, so that it holds for any
    structure model)."""
    base = summary.get("base", {}).get("diversity", {}).get("mean")
    marked: dict[str, list] = {}
    for model, measures in summary.items():
        reasons = []
        likeness = measures.get("still_likeness", {}).get("mean")
        if likeness is not None and likeness > copy_threshold:
            reasons.append("copies a still")
        spread = measures.get("diversity", {}).get("mean")
        if not is_control(model) and base and spread is not None and spread < collapse_ratio * base:
            reasons.append("seeds collapse")
        if reasons:
            marked[model] = reasons
    return marked


def recommend(
    summary: dict,
    style: str = "style_csd",
    fidelity: str = "content",
    excluded: Iterable[str] = (),
) -> dict:
    """The Pareto front of trained models on (style, fidelity), and two picks from it; models
    in `excluded` (those that copy or collapse) take no part.

    "figurative": the most faithful front model among those at or above the median style;
    "abstraction": the front model with the most style.
    """
    excluded = set(excluded)
    points = {
        model: (m[style]["mean"], m[fidelity]["mean"])
        for model, m in summary.items()
        if not is_control(model)
        and model not in excluded
        and m.get(style, {}).get("mean") is not None
        and m.get(fidelity, {}).get("mean") is not None
    }
    if not points:
        return {"front": [], "figurative": None, "abstraction": None}
    front = pareto_front(points)
    median_style = float(np.median([s for s, _ in points.values()]))
    stylish = [m for m in front if points[m][0] >= median_style] or front
    return {
        "front": front,
        "figurative": max(stylish, key=lambda m: points[m][1]),
        "abstraction": max(front, key=lambda m: points[m][0]),
        "axes": [style, fidelity],
    }
