"""README's table of the demo's findings, from a finished demo: `python docs/demo_figures.py`
(in the workflow's folder, or give it). The claims are those tests/test_style_learning.py
holds: means over seeds, CFG scales and the other settings of the portrait's pictures, the
checkpoints as trained (strength 1), DreamBooth runs (`te~...`) unless named."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

MEASURES = ("style_colour", "style_clip", "style_csd", "content")


def read_images(folder: Path) -> list[dict]:
    images = []
    for path in sorted((folder / "results" / "scores").glob("*.json")):
        images += json.loads(path.read_text())["images"]
    return [i for i in images if i["subject"] == "portrait" and i["strength"] in (None, 1.0)]


def step(model: str) -> int:
    return int(model.rsplit("step-", 1)[1]) if "/step-" in model else 0


def mean(images: list[dict], measure: str, keep) -> str:
    values = [i[measure] for i in images if keep(i) and i[measure] is not None]
    return f"{statistics.fmean(values):.3f}" if values else "(1)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=".", type=Path)
    images = read_images(parser.parse_args().folder)

    def db(i: dict) -> bool:
        return i["model"].startswith("te~")

    def ti(i: dict) -> bool:
        return i["model"].startswith("method~ti")

    rows = [
        ("step 20 → 40", lambda i: db(i) and step(i["model"]) == 20,
         lambda i: db(i) and step(i["model"]) == 40),
        ("strength, `te~0.05` → `te~0.2` (step 40)", lambda i: i["model"] == "te~0.05/step-40",
         lambda i: i["model"] == "te~0.2/step-40"),
        ("key at the end → at the start", lambda i: db(i) and i["variant"].startswith("end_"),
         lambda i: db(i) and i["variant"].startswith("start_")),
        ("key weight 1.0 → 1.3", lambda i: db(i) and i["variant"].endswith("_w1"),
         lambda i: db(i) and i["variant"].endswith("_w1.3")),
        ("the base model → `te~0.05/step-20`", lambda i: i["model"] == "base",
         lambda i: i["model"] == "te~0.05/step-20"),
        ("the base model → `words` (the stills' words for the key)",
         lambda i: i["model"] == "base", lambda i: i["model"] == "words"),
        ("`te~0.1` → `captions~auto` (step 20)", lambda i: i["model"] == "te~0.1/step-20",
         lambda i: i["model"] == "captions~auto/step-20"),
        ("textual inversion, step 20 → 40", lambda i: ti(i) and step(i["model"]) == 20,
         lambda i: ti(i) and step(i["model"]) == 40),
    ]  # fmt: skip
    print("| claim (means over 3 seeds, 2 CFG scales and the other settings) | "
          + " | ".join(MEASURES).replace("content", "content kept") + " |")  # fmt: skip
    print("| --- |" + " --- |" * len(MEASURES))
    for name, before, after in rows:
        cells = [f"{mean(images, m, before)} → {mean(images, m, after)}" for m in MEASURES]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
