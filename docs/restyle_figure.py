"""README's picture of a restyled clip, from a finished demo: `python docs/restyle_figure.py`
(in the workflow's folder, or give it). Top row: the clip's frames each animation frame
starts from; bottom row: the restyled frames, enlarged without smoothing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from stylesweep.animate.render import load_frame
from stylesweep.animate.source import clip_frames

SCALE = 3  # 64 px frames shown at 192 px
GAP = 4


def figure(folder: Path, animation: str, frames: list[int]) -> Image.Image:
    out_dir = folder / "results" / "animate" / animation
    made = json.loads((out_dir / "settings.json").read_text())
    settings = made["settings"]
    sources, _ = clip_frames(
        folder / made["clip"]["file"], settings["fps"], settings["extract_nth_frame"],
        settings["size"], made["frames"],
    )  # fmt: skip
    rows = [[sources[frame] for frame in frames], [load_frame(out_dir, f) for f in frames]]
    side = settings["size"] * SCALE
    sheet = Image.new("RGB", (len(frames) * (side + GAP) - GAP, 2 * side + GAP), "white")
    for row, pictures in enumerate(rows):
        for column, pixels in enumerate(pictures):
            big = Image.fromarray(np.asarray(pixels)).resize((side, side), Image.Resampling.NEAREST)
            sheet.paste(big, (column * (side + GAP), row * (side + GAP)))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("."))
    parser.add_argument("--animation", default="restyle")
    parser.add_argument("--frames", default="0,5,10,15", help="comma-separated frame numbers")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "restyle.png")
    args = parser.parse_args()
    frames = [int(frame) for frame in args.frames.split(",")]
    figure(args.folder, args.animation, frames).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
