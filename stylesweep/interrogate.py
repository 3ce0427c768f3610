"""A base prompt from a portrait, with clip-interrogator.

The demo runs the library's own Interrogator on a tiny open_clip model and a tiny BLIP
caption model, both generated from a fixed seed; real models (`ViT-L-14/openai`,
`blip-large`) load through the same Interrogator from the local cache, never the network.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch
from PIL import Image

from stylesweep.clip_model import TINY_CLIP, tiny_clip
from stylesweep.sources import BUILTIN_TINY, BUILTIN_TOY

log = logging.getLogger(__name__)

MODES = ("best", "fast", "classic", "negative")
# Words the tiny caption model can say; its captions are random, but made of words.
CAPTION_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "in",
    "with",
    "and",
    "on",
    "portrait",
    "photo",
    "woman",
    "man",
    "person",
    "astronaut",
    "suit",
    "flag",
    "helmet",
    "space",
    "nasa",
    "smiling",
    "standing",
    "white",
    "orange",
    "blue",
    "red",
    "close",
    "up",
    "face",
    "wearing",
    "holding",
    "front",
    "background",
    "studio",
    "light",
    "colorful",
    "pattern",
    "abstract",
    "painting",
]


class InterrogationError(RuntimeError):
    """A model for interrogation could not be loaded."""


def tiny_blip(seed: int = 0):
    """A random BLIP captioner of the real architecture, with a small WordPiece vocabulary."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab = specials + list(dict.fromkeys(CAPTION_WORDS))
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n")
        tokenizer = BertTokenizer(str(vocab_file), bos_token="[DEC]")
    image_processor = BlipImageProcessor(size={"height": 64, "width": 64})
    config = BlipConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            encoder_hidden_size=32,
            max_position_embeddings=64,
            pad_token_id=0,
            bos_token_id=vocab.index("[DEC]"),
            sep_token_id=vocab.index("[SEP]"),
            eos_token_id=vocab.index("[SEP]"),
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
        ),
    )
    torch.manual_seed(seed)
    model = BlipForConditionalGeneration(config).eval()
    return model, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def load_interrogator(
    clip_model: str, caption_model: str | None, cache_dir: str | Path, device: str = "cpu"
):
    """A clip_interrogator.Interrogator on the named models, offline.

    `clip_model` is `builtin:toy`, `builtin:tiny` or an open_clip `name/pretrained` such as
    `ViT-L-14/openai`; `caption_model` is `builtin:toy` (with the toy CLIP only: the world's
    subject phrases, ranked), `builtin:tiny`, a clip-interrogator caption model name
    (`blip-base`, `blip-large`, ...) or None for no caption.
    """
    from clip_interrogator import Config, Interrogator

    if clip_model == BUILTIN_TOY or caption_model == BUILTIN_TOY:
        return world_interrogator(clip_model, caption_model, cache_dir, device)

    config = Config(
        clip_model_name=clip_model,
        caption_model_name=caption_model,
        cache_path=str(cache_dir),
        download_cache=False,
        device=device,
        quiet=False,
    )
    if clip_model == BUILTIN_TINY:
        # clip-interrogator names its label caches after the model; the seed is in the name
        # so a different tiny model never reads another's cache.
        config.clip_model_name = f"{TINY_CLIP}/w32-seed0"
        config.clip_model, config.clip_preprocess = tiny_clip(seed=0)
    if caption_model == BUILTIN_TINY:
        config.caption_model_name = "blip-tiny"
        config.caption_model, config.caption_processor = tiny_blip(seed=0)
        config.caption_max_length = 12
    try:
        return Interrogator(config)
    except (OSError, RuntimeError) as error:  # transformers: OSError; open_clip: RuntimeError
        raise InterrogationError(
            f"could not load {clip_model!r} / {caption_model!r} offline ({error}); download them "
            "once with network access (e.g. `hf download`), or use builtin:tiny"
        ) from error


def world_interrogator(
    clip_model: str, caption_model: str | None, cache_dir: str | Path, device: str
):
    """clip-interrogator on the toy world's CLIP and phrases (stylesweep.toy.interrogator)."""
    from clip_interrogator import Config

    from stylesweep.clip_model import toy_clip
    from stylesweep.toy.interrogator import WorldInterrogator
    from stylesweep.toy.shipped import clip_digest

    if (clip_model, caption_model) != (BUILTIN_TOY, BUILTIN_TOY):
        raise InterrogationError(
            f"{BUILTIN_TOY} interrogates only as a pair: set both prompts.interrogator."
            f"clip_model and caption_model to {BUILTIN_TOY} (got {clip_model!r} and "
            f"{caption_model!r})"
        )
    config = Config(
        # label caches are named after the model: the weights' hash keeps them apart
        clip_model_name=f"stylesweep-toy-clip/{clip_digest()[:12]}",
        caption_model_name=None,
        cache_path=str(cache_dir),
        download_cache=False,
        device=device,
        quiet=False,
    )
    return WorldInterrogator(config, toy_clip())


def interrogate(interrogator, image_path: str | Path, mode: str, caption: str = "") -> dict:
    """Run one clip-interrogator mode on an image.

    Returns the prompt, its CLIP similarity to the image, and the similarity of each of its
    comma-separated phrases, so a user can see which parts of the prompt the image supports.
    Without a caption model, `caption` stands in for the caption (clip-interrogator needs one).
    """
    if mode not in MODES:
        raise ValueError(f"interrogation mode {mode!r} is not one of {', '.join(MODES)}")
    try:
        with Image.open(image_path) as opened:
            image = opened.convert("RGB")
    except OSError as error:
        raise InterrogationError(
            f"portrait {image_path} is not a readable image: {error}"
        ) from error
    if interrogator.caption_model is None:
        if not caption.strip() and mode != "negative":
            raise InterrogationError(
                "no caption model: set prompts.interrogator.caption_model, or give a caption "
                "in prompts.interrogator.caption"
            )
    elif mode != "negative":
        caption = interrogator.generate_caption(image)
    run = {
        "best": lambda: interrogator.interrogate(image, caption=caption),
        "fast": lambda: interrogator.interrogate_fast(image, caption=caption),
        "classic": lambda: interrogator.interrogate_classic(image, caption=caption),
        "negative": lambda: interrogator.interrogate_negative(image),
    }[mode]
    with torch.no_grad():
        prompt = run()
        features = interrogator.image_to_features(image)
        phrases = [p.strip() for p in prompt.split(",") if p.strip()]
        scores = interrogator.similarities(features, [prompt, *phrases])
    return {
        "prompt": prompt,
        "caption": caption or None,
        "mode": mode,
        "similarity": scores[0],
        "phrases": [{"text": t, "similarity": v} for t, v in zip(phrases, scores[1:], strict=True)],
    }


def make_base_prompts(
    *,
    texts: list[str],
    portraits: list[str | Path],
    settings: dict,
    cache_dir: str | Path,
    device: str,
) -> list[dict]:
    """The base prompts: the config's texts if given, else clip-interrogator on each portrait."""
    texts = [" ".join(t.split()) for t in texts if t.strip()]
    if texts:
        return [{"prompt": t, "source": "config", "mode": None} for t in texts]
    if settings is None:
        raise ValueError("no base prompt in config and no interrogator settings")
    interrogator = load_interrogator(
        settings["clip_model"], settings["caption_model"], cache_dir, device
    )
    return [
        {
            **interrogate(interrogator, portrait, settings["mode"], settings.get("caption", "")),
            "source": "clip-interrogator",
            "portrait": str(portrait),
            "clip_model": settings["clip_model"],
            "caption_model": settings["caption_model"],
        }
        for portrait in portraits
    ]
