"""The training loop every toy part shares, and the seeded sources of each step's data.

Every step's pictures, noise and timesteps come from sources seeded by (seed, part, step), so
a part trains the same on every CPU with the same thread count and library versions.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable

import torch

from stylesweep.toy.configs import Part
from stylesweep.toy.world import TRAIN_SIZE

log = logging.getLogger(__name__)


def step_random(seed: int, part: str, step: int) -> random.Random:
    """The random source of one step of one part."""
    return random.Random(f"{seed}-{part}-{step}")


def step_generator(seed: int, part: str, step: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(step_random(seed, part, step).getrandbits(63))


def training_indices(rng: random.Random, count: int) -> list[int]:
    return [rng.randrange(TRAIN_SIZE) for _ in range(count)]


def fit(
    name: str,
    module: torch.nn.Module,
    part: Part,
    loss_at: Callable[[int], torch.Tensor],
    log_every: int,
    after_step: Callable[[int], None] | None = None,
) -> list[float]:
    """AdamW with warm-up and cosine decay (to a tenth); returns the mean loss per log window.

    Weight decay skips gains, biases and embedding tables (as open_clip's training does).
    """
    decay, keep = [], []
    for param_name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        plain = param.ndim < 2 or "embedding" in param_name or "logit_scale" in param_name
        (keep if plain else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": part.weight_decay}, {"params": keep, "weight_decay": 0}],
        lr=part.learning_rate,
    )

    def factor(step: int) -> float:
        if step < part.warmup:
            return (step + 1) / part.warmup
        progress = (step - part.warmup) / max(1, part.steps - part.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    module.train()
    curve, window = [], []
    for step in range(part.steps):
        loss = loss_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if after_step is not None:
            after_step(step)
        window.append(loss.item())
        if len(window) == log_every or step == part.steps - 1:
            curve.append(sum(window) / len(window))
            log.info("%s step %d/%d: loss %.4f", name, step + 1, part.steps, curve[-1])
            window = []
    module.eval()
    return curve
