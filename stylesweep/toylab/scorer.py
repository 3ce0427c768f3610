"""The toy world's style-and-content scorer (CSD's architecture), trained from the toy CLIP.

The world knows every picture's style and subject, so both heads learn from labels, as CSD
learns style from labelled art: supervised contrastive losses (Khosla et al. 2020), one on
the style head where pictures in the same style are positives whatever they show, one on the
content head where pictures of the same subject are positives whatever their style. Each
batch draws world pictures and paints each in a style drawn evenly from the world's four and
plain, so that every style meets every subject (abstract patterns too). The tower starts from
the shipped CLIP's vision tower, as CSD starts from CLIP's.

Measured by retrieval on held-out pictures: a picture's nearest neighbour (another picture)
by one head should share its label; each head should retrieve the other's labels much worse.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stylesweep.style_content import StyleContentModel, save_scorer
from stylesweep.toy.configs import CLIP_CONFIG, IMAGE_SIZE, Plan
from stylesweep.toy.world import (
    STYLES,
    SUBJECTS,
    held_out_indices,
    picture_random,
    render,
    restyle,
    sample_attributes,
)
from stylesweep.toylab.loop import fit, step_random, training_indices
from stylesweep.toylab.models import PREPROCESS, normalize_for_clip

log = logging.getLogger(__name__)

STYLE_LABELS = ("plain", *STYLES)
SUBJECT_LABELS = tuple(SUBJECTS)
CONFIG = {
    "embed_dim": CLIP_CONFIG["embed_dim"],
    "quick_gelu": CLIP_CONFIG["quick_gelu"],
    "vision_cfg": CLIP_CONFIG["vision_cfg"],
    "preprocess_cfg": {
        "size": IMAGE_SIZE,
        "interpolation": PREPROCESS["interpolation"],
        "resize_mode": PREPROCESS["resize_mode"],
    },
}


EVALUATION_PICTURES = 500  # held out, styles drawn evenly


def labelled_pictures(indices: list[int], rng: random.Random) -> tuple[torch.Tensor, list, list]:
    """World pictures, each painted in a style drawn evenly from STYLE_LABELS: images in
    [-1, 1], style labels, subject labels."""
    images, styles, subjects = [], [], []
    for index in indices:
        attributes = sample_attributes(picture_random(index))
        style = rng.choice(STYLE_LABELS)
        attributes = restyle(attributes, None if style == "plain" else style, index)
        images.append(np.asarray(render(attributes, IMAGE_SIZE), np.float32) / 127.5 - 1)
        styles.append(STYLE_LABELS.index(style))
        subjects.append(SUBJECT_LABELS.index(attributes["subject"]))
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return pixels, styles, subjects


def supervised_contrastive(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float):
    """Khosla et al.'s SupCon loss on unit-length embeddings: every other picture with the
    same label is a positive. Written out because it is six lines and no maintained package
    we use has it."""
    logits = embeddings @ embeddings.T / temperature
    self_mask = torch.eye(len(labels), dtype=torch.bool)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    per_anchor = -(log_prob.masked_fill(~positives, 0).sum(1)) / positives.sum(1).clamp(min=1)
    return per_anchor[positives.any(1)].mean()


def scorer_from_clip(clip) -> StyleContentModel:
    """The scorer with the CLIP's vision tower, both heads copies of its projection."""
    model = StyleContentModel(CONFIG["embed_dim"], CONFIG["vision_cfg"], CONFIG["quick_gelu"])
    state = {f"backbone.{k}": v for k, v in clip.visual.state_dict().items() if k != "proj"}
    state["last_layer_style"] = clip.visual.proj.detach().clone()
    state["last_layer_content"] = clip.visual.proj.detach().clone()
    model.load_state_dict(state)
    return model


class ReverseGradient(torch.autograd.Function):
    """Identity forward, negated gradient backward (Ganin and Lempitsky 2015), as CSD's
    training uses to keep one kind of information out of a head."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return -grad


class Trainee(torch.nn.Module):
    """The scorer and two adversaries: one reads the subject from the style embedding, one the
    style from the content embedding; their gradients, reversed, teach each head to drop them."""

    def __init__(self, model: StyleContentModel):
        super().__init__()
        width = CONFIG["embed_dim"]
        self.model = model
        self.subject_from_style = torch.nn.Linear(width, len(SUBJECT_LABELS))
        self.style_from_content = torch.nn.Linear(width, len(STYLE_LABELS))

    def loss(self, images, styles, subjects, temperature: float) -> torch.Tensor:
        _, content, style = self.model(normalize_for_clip(images))
        styles, subjects = torch.tensor(styles), torch.tensor(subjects)
        adversaries = F.cross_entropy(
            self.subject_from_style(ReverseGradient.apply(style)), subjects
        ) + F.cross_entropy(self.style_from_content(ReverseGradient.apply(content)), styles)
        return (
            supervised_contrastive(style, styles, temperature)
            + supervised_contrastive(content, subjects, temperature)
            + adversaries
        )


def train_scorer(clip, plan: Plan, seed: int) -> tuple[StyleContentModel, list[float]]:
    torch.manual_seed(seed)
    trainee = Trainee(scorer_from_clip(clip))
    part = plan.scorer

    def loss_at(step: int) -> torch.Tensor:
        rng = step_random(seed, "scorer", step)
        images, styles, subjects = labelled_pictures(training_indices(rng, part.batch_size), rng)
        return trainee.loss(images, styles, subjects, plan.scorer_temperature)

    losses = fit("scorer", trainee, part, loss_at, plan.log_every)
    return trainee.model.eval(), losses


def nearest_neighbour_accuracy(embeddings: torch.Tensor, labels: list[int], other: list[int]):
    """Share of pictures whose nearest neighbour (cosine) shares their label, the neighbour
    drawn from the pictures that differ in the `other` label: style is retrieved across
    subjects and subject across styles, so neither can be found through the other."""
    similarity = embeddings @ embeddings.T
    other_t, labels_t = torch.tensor(other), torch.tensor(labels)
    similarity = similarity.masked_fill(other_t[:, None] == other_t[None, :], float("-inf"))
    nearest = similarity.argmax(dim=1)
    return round(float((labels_t[nearest] == labels_t).float().mean()), 4)


@torch.no_grad()
def evaluate_scorer(
    model: StyleContentModel, pictures: int = EVALUATION_PICTURES
) -> dict[str, float]:
    """Retrieval on held-out pictures (styles drawn evenly): each head on each label, style
    across subjects and subject across styles."""
    rng = random.Random("stylesweep-toy-scorer-evaluation")
    images, styles, subjects = labelled_pictures(list(held_out_indices(pictures)), rng)
    _, content, style = model.eval()(normalize_for_clip(images))
    return {
        "style_head_on_style": nearest_neighbour_accuracy(style, styles, subjects),
        "content_head_on_style": nearest_neighbour_accuracy(content, styles, subjects),
        "content_head_on_subject": nearest_neighbour_accuracy(content, subjects, styles),
        "style_head_on_subject": nearest_neighbour_accuracy(style, subjects, styles),
        "pictures": pictures,
    }


def train_and_save(clip, folder: str | Path, plan: Plan, seed: int = 0) -> dict:
    """Train, measure and save the scorer into `folder`; returns its losses and retrieval."""
    model, losses = train_scorer(clip, plan, seed)
    retrieval = evaluate_scorer(model)
    log.info("scorer retrieval on held-out pictures: %s", retrieval)
    save_scorer(model, CONFIG, folder)
    return {"losses": losses, "retrieval": retrieval}
