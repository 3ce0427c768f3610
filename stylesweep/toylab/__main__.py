"""`python -m stylesweep.toylab train`: train builtin:toy; `... verify`: check a trained folder."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

from stylesweep.toy.configs import SHIPPED


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m stylesweep.toylab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train every part from a seed")
    train.add_argument("--out", default=str(SHIPPED), help="output folder (default: the package's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--steps", type=int, help="cut every part to this many steps (tests)")
    train.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    train.add_argument(
        "--only", choices=["scorer"],
        help="train only this part, from the folder's trained CLIP (the rest is kept)",
    )  # fmt: skip
    check = commands.add_parser("verify", help="check a trained folder against its manifest")
    check.add_argument("folder", nargs="?", default=str(SHIPPED))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.command == "verify":
        from stylesweep.toy.shipped import verify

        problems = verify(args.folder)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0

    import torch

    from stylesweep.toy.configs import Plan
    from stylesweep.toylab.train import retrain_scorer, train_toy

    if args.threads:
        torch.set_num_threads(args.threads)
    plan = Plan() if args.steps is None else Plan().with_steps(args.steps)
    command = shlex.join(["python", "-m", "stylesweep.toylab", *argv])
    if args.only == "scorer":
        retrain_scorer(args.out, seed=args.seed, plan=plan, command=command)
    else:
        train_toy(args.out, seed=args.seed, plan=plan, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
