"""The report's numbers as CSV, for pandas, DVC or a spreadsheet.

- metrics.csv: one row per image: model, run, step, subject, variant, placement, weight,
  seed, CFG scale, every score, the nearest training still.
- summary.csv: one row per model and subject, and per model over all subjects (`all`):
  each measure's mean and spread over seeds, diversity, validation loss, and what
  disqualifies the model from the recommendation.
"""

from __future__ import annotations

import csv
from pathlib import Path

from stylesweep.charts import METRIC_LABELS, MODEL_LABELS
from stylesweep.subjects import PORTRAIT
from stylesweep.sweep import run_and_step, split_label

IMAGE_KEYS = ("model", "run", "step", "subject", "variant", "placement", "weight", "seed",
              "cfg_scale")  # fmt: skip


def strength_of(label: str) -> float | str:
    """A model's strength as the tables write it: empty for the base model."""
    strength = split_label(label)[1]
    return "" if strength is None else strength


def metric_rows(rows: list[dict], variants: list[dict]) -> list[dict]:
    by_name = {v["name"]: v for v in variants}
    table = []
    for row in rows:
        variant = by_name.get(row["variant"], {})
        run, step = run_and_step(row["model"])
        table.append(
            {
                "model": row["model"],
                "run": run,
                "step": step,
                "strength": strength_of(row["model"]),
                "subject": row.get("subject", PORTRAIT),
                "variant": row["variant"],
                "placement": variant.get("placement", ""),
                "weight": variant.get("weight", ""),
                "seed": row["seed"],
                "cfg_scale": row["cfg_scale"],
                **{metric: row.get(metric) for metric in METRIC_LABELS},
                "nearest_still": row.get("nearest_still", ""),
            }
        )
    return table


def summary_rows(summary: dict, flags: dict[str, list], subject: str) -> list[dict]:
    """One row per model of `summary` (the measures over `subject`: a subject's name, or
    `all`); the flags are the model's, whatever the subject."""
    table = []
    for model, measures in summary.items():
        run, step = run_and_step(model)
        row = {"model": model, "run": run, "step": step, "strength": strength_of(model),
               "subject": subject}  # fmt: skip
        for key in MODEL_LABELS:
            spread = measures.get(key) or {}
            row[f"{key}_mean"] = spread.get("mean")
            row[f"{key}_std"] = spread.get("std")
        preference = measures.get("preference") or {}  # the artist's votes, when given
        for key, column in (("mean", "preference"), ("low", "preference_low"),
                            ("high", "preference_high")):  # fmt: skip
            row[column] = preference.get(key)
        row["flags"] = "; ".join(flags.get(model, []))
        table.append(row)
    return table


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    """`rows` (dicts with the same keys) as CSV; None becomes an empty cell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return path
