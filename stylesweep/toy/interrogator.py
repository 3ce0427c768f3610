"""clip-interrogator on the toy world: the world's CLIP, and the world's phrases as its tables.

A real CLIP is interrogated against clip-interrogator's lists (artists, flavors, mediums,
movements, sites), which name things the toy CLIP never saw. Here the tables hold the
world's vocabulary instead: its subject phrases caption the image (the CLIP ranks them, so no
captioning model is needed), its details are the flavors, its mediums the mediums. The world
has no artists, movements or sites, so those tables are empty and classic mode leaves them
out. Every mode (best, fast, classic, negative) is clip-interrogator's own code.

The caller (stylesweep.interrogate) loads the CLIP with stylesweep.clip_model.toy_clip and
hands it in: the toy package imports no stylesweep module that imports it back
(tests/test_import_graph.py).
"""

from __future__ import annotations

import torch
from clip_interrogator import Interrogator, LabelTable
from clip_interrogator.clip_interrogator import _truncate_to_fit
from PIL import Image

from stylesweep.toy.world import vocabulary


class WorldInterrogator(Interrogator):
    """An Interrogator whose models and label tables come from the toy world: `clip` is the
    world's CLIP as (model, preprocess, tokenizer), as stylesweep.clip_model.toy_clip loads it."""

    def __init__(self, config, clip: tuple):
        self.world_clip = clip  # before Interrogator's constructor, which loads the CLIP
        super().__init__(config)

    def load_caption_model(self) -> None:
        # The caption is ranked from the world's subject phrases once the CLIP is loaded.
        self.caption_model, self.caption_processor = None, None

    def load_clip_model(self) -> None:
        self.clip_model, self.clip_preprocess, self.tokenize = self.world_clip
        self.clip_model.to(self.device)
        self._prepare_clip()
        phrases = vocabulary()
        self.subjects = LabelTable(phrases["subjects"], "subjects", self)
        self.flavors = LabelTable(phrases["details"], "flavors", self)
        self.mediums = LabelTable(phrases["mediums"], "mediums", self)
        self.artists = LabelTable([], "artists", self)
        self.movements = LabelTable([], "movements", self)
        self.trendings = LabelTable([], "trendings", self)
        self.negative = LabelTable([], "negative", self)
        self.caption_model = self.subjects  # what captions: the ranked subject phrases

    def generate_caption(self, pil_image: Image.Image) -> str:
        return self.subjects.rank(self.image_to_features(pil_image), 1)[0]

    def interrogate_classic(
        self, image: Image.Image, max_flavors: int = 3, caption: str | None = None
    ) -> str:
        """clip-interrogator's classic format less the artist, site and movement."""
        caption = caption or self.generate_caption(image)
        with torch.no_grad():
            features = self.image_to_features(image)
        medium = self.mediums.rank(features, 1)[0]
        flavors = ", ".join(self.flavors.rank(features, max_flavors))
        return _truncate_to_fit(f"{caption}, {medium}, {flavors}", self.tokenize)
