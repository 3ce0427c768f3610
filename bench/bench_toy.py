"""How well builtin:toy paints its world: the toy CLIP picks each picture's caption among
`group` held-out captions, on the world's drawings (the CLIP's ceiling) and on the toy
model's renders of the same captions (stylesweep's sampler, Euler a).

    python bench/bench_toy.py                  # 100 held-out pictures, groups of 20
    python bench/bench_toy.py --cfg 5 --steps 30
"""

from __future__ import annotations

import argparse
import time

import torch

from stylesweep.toy.configs import SHIPPED
from stylesweep.toy.shipped import MODEL_FOLDER, checked
from stylesweep.toylab.evaluate import caption_ranking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=100)
    parser.add_argument("--group", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=7.0)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    ranking = caption_ranking(
        checked(SHIPPED) / MODEL_FOLDER, pictures=args.pictures, group=args.group,
        cfg_scale=args.cfg, steps=args.steps,
    )  # fmt: skip
    print(f"{ranking.pictures} held-out pictures, each caption ranked among {ranking.group}; "
          f"CFG {args.cfg}, {args.steps} steps, {torch.get_num_threads()} threads, "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    print("| images | top-1 caption |\n| --- | --- |")
    print(f"| the world's drawings (ceiling) | {ranking.drawings:.0%} |")
    print(f"| builtin:toy's renders | {ranking.renders:.0%} |")


if __name__ == "__main__":
    main()
