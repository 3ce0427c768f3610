"""Subjects the stills never showed: the prompt suites rendered beside the portrait.

A style model is judged on whether its style carries to other subjects and whether those
subjects survive it (the LyCORIS evaluation and SimpleTuner's prompt libraries do the same
with held-out prompts). `prompts.subjects` names a built-in suite or maps names to prompts.
Every subject gets the key at each of the portrait's placements.
"""

from __future__ import annotations

import re

PORTRAIT = "portrait"
ALL = "all"  # summary.csv's rows over every subject, each weighing the same

# Stable Diffusion 1.5: one prompt for each kind of subject the blog's artist wanted the style
# on ("more photorealistic subjects"): a person, an animal, a building, a landscape, an object.
# Each has two or more comma-separated phrases, so that the key's middle placement falls
# between phrases, as it does in the interrogated portrait.
SD15_SUBJECTS = {
    "person": "photo of an old fisherman with a grey beard, knitted cap, harbour in the background",
    "animal": "photo of a red fox sitting in the snow, winter forest, soft morning light",
    "building": "photo of a lighthouse on a rocky cliff above the sea, overcast sky",
    "landscape": "a mountain lake at sunrise, pine trees on the shore, mist over the water",
    "object": "still life of a teapot and lemons on a wooden table, window light",
}
# The toy world's other subjects, in its captions' own words (stylesweep.toy.world), so that
# the toy model knows every phrase.
TOY_SUBJECTS = {
    "house": "photo of a white house with a red roof, a tree, blue sky",
    "landscape": "a landscape with mountains and a lake, sunset",
    "still life": "still life of a blue vase with flowers and apples on a table, yellow background",
}
SUITES = {"builtin:sd15": SD15_SUBJECTS, "builtin:toy": TOY_SUBJECTS}


class SubjectError(ValueError):
    """A subject suite that cannot be used."""


def resolve_subjects(value: str | dict[str, str] | None) -> dict[str, str]:
    """The subjects to render, name -> base prompt: a built-in suite by name, a map as
    written, or none for null or an empty map."""
    if value is None:
        return {}
    if isinstance(value, str):
        if value not in SUITES:
            raise SubjectError(
                f"unknown subject suite {value!r}: use {', '.join(SUITES)}, or map names to "
                'prompts (house: "photo of a house, blue sky")'
            )
        return dict(SUITES[value])
    for name, prompt in value.items():
        if not slug(name):
            raise SubjectError(f"subject name {name!r} has no letter or digit")
        if name.strip().lower().startswith(PORTRAIT) or slug(name) == ALL:
            raise SubjectError(
                f"subject name {name!r} is taken ('portrait' names the interrogated "
                "portrait, 'all' every subject together): pick another name"
            )
        if not str(prompt).strip():
            raise SubjectError(f"subject {name!r} has an empty prompt")
    slugs = [slug(name) for name in value]
    if len(set(slugs)) != len(slugs):
        raise SubjectError(f"subject names {list(value)} repeat once made safe for file names")
    return {str(name): str(prompt) for name, prompt in value.items()}


def slug(name: str) -> str:
    """A subject's name as it appears in file names: `still life` -> `still-life`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def portrait_subjects(count: int) -> list[str]:
    """The subject names of the interrogated portraits: `portrait`, or `portrait 1`, ..."""
    return [PORTRAIT] if count == 1 else [f"{PORTRAIT} {i}" for i in range(1, count + 1)]
