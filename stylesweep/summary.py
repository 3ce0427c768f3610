"""Summaries of the scores: per-model means over seeds, the Pareto front of style against
fidelity, and the two recommended checkpoints. numpy only: the report reads these without
loading torch or CLIP."""

from __future__ import annotations

import numpy as np

METRICS = ("style_colour", "style_clip", "fidelity_base", "fidelity_prompt")


def summarise(rows: list[dict]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per model and measure: the mean over seeds of the per-seed mean, and its spread."""
    summary: dict = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        summary[model] = {}
        for metric in METRICS:
            per_seed = [
                np.mean(values)
                for seed in dict.fromkeys(r["seed"] for r in mine)
                if (
                    values := [
                        r[metric] for r in mine if r["seed"] == seed and r[metric] is not None
                    ]
                )
            ]
            summary[model][metric] = {
                "mean": float(np.mean(per_seed)) if per_seed else None,
                "std": float(np.std(per_seed)) if per_seed else None,
            }
    return summary


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


def recommend(summary: dict, style: str = "style_colour", fidelity: str = "fidelity_base") -> dict:
    """The Pareto front of trained models on (style, fidelity), and two picks from it.

    "figurative": the most faithful front model among those at or above the median style;
    "abstraction": the front model with the most style.
    """
    points = {
        model: (m[style]["mean"], m[fidelity]["mean"])
        for model, m in summary.items()
        if model != "base" and m[style]["mean"] is not None and m[fidelity]["mean"] is not None
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
