"""Captions of the stills' content, so that the key learns what the captions leave out.

Every trainer in the field (kohya, OneTrainer, SimpleTuner, ai-toolkit) captions what a
training picture shows; the trigger key, added to each caption, then takes up what no
caption says: the style. `train.captions: auto` captions each still with the caption model
(BLIP for SD 1.5; on the demo, the toy world's captioner, which ranks the world's subject
phrases with its CLIP) and forms the training caption from `train.caption_template`.

The captions are written as kohya-style sidecars (`<still>.txt`) and in a manifest, so an
artist can read and correct them: copy the sidecars beside the stills and switch to
`captions: sidecar`. Sidecars are read here too, by their own job, so that editing one
retrains only the runs that read sidecars.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from stylesweep.files import read_json, write_json
from stylesweep.sources import CAPTION_SUFFIXES

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "{caption}, {key}"


class CaptionError(ValueError):
    """A caption setting or caption model that cannot be used."""


def check_template(template: str, config_key: str = "train.caption_template") -> None:
    """Refuse a template that is empty or has no `{key}` (the key would learn nothing)."""
    if not template.strip():
        raise CaptionError(f"config key '{config_key}' is empty: write e.g. {DEFAULT_TEMPLATE!r}")
    if "{key}" not in template:
        raise CaptionError(
            f"config key '{config_key}' ({template!r}) has no {{key}}: the trigger key must be "
            f"in every training caption, e.g. {DEFAULT_TEMPLATE!r}"
        )
    try:
        template.format(caption="", key="")
    except (KeyError, IndexError, ValueError) as error:
        raise CaptionError(
            f"config key '{config_key}' ({template!r}) may name only {{caption}} and {{key}} "
            f"({error!r}); double a brace that is text: '{{{{' and '}}}}'"
        ) from None


def training_caption(template: str, caption: str, key: str) -> str:
    """The caption a still trains on: the template filled in, with stray commas tidied
    (an empty caption leaves the key alone, not ", key")."""
    text = template.format(caption=caption.strip(), key=key)
    phrases = [p.strip() for p in text.split(",")]
    return ", ".join(p for p in phrases if p)


def load_captioner(
    caption_model: str, cache_dir: str | Path, device: str = "cpu"
) -> Callable[[Image.Image], str]:
    """A function from a picture to its caption, by the named caption model, offline.

    `builtin:toy` is the toy world's captioner (its CLIP ranks the world's subject phrases),
    `builtin:tiny` a random BLIP for tests, anything else a clip-interrogator caption model
    name (`blip-large`, ...) loaded by clip-interrogator from the local cache, without its CLIP.
    """
    from stylesweep.interrogate import InterrogationError, load_interrogator
    from stylesweep.sources import BUILTIN_TINY, BUILTIN_TOY

    if caption_model == BUILTIN_TOY:
        return load_interrogator(BUILTIN_TOY, BUILTIN_TOY, cache_dir, device).generate_caption
    from clip_interrogator import Config, Interrogator
    from clip_interrogator.clip_interrogator import CAPTION_MODELS

    class CaptionOnly(Interrogator):
        """clip-interrogator's captioning, without loading a CLIP it would not use."""

        def load_clip_model(self) -> None:
            self.clip_model = None

    config = Config(caption_model_name=caption_model, device=device, quiet=True)
    if caption_model == BUILTIN_TINY:
        from stylesweep.interrogate import tiny_blip

        config.caption_model_name = "blip-tiny"
        config.caption_model, config.caption_processor = tiny_blip(seed=0)
        config.caption_max_length = 12
    elif caption_model not in CAPTION_MODELS:
        raise CaptionError(
            f"caption model {caption_model!r} is not one of {BUILTIN_TOY}, {BUILTIN_TINY}, "
            f"{', '.join(CAPTION_MODELS)}"
        )
    try:
        return CaptionOnly(config).generate_caption
    except OSError as error:  # transformers, when the model is not in the local cache
        name = CAPTION_MODELS.get(caption_model, caption_model)
        raise InterrogationError(
            f"could not load caption model {caption_model!r} ({name}) offline ({error}); "
            f"download it once with network access: `hf download {name}`"
        ) from error


def caption_stills(
    images: list[dict],
    dataset_dir: str | Path,
    captioner: Callable[[Image.Image], str],
    *,
    template: str,
    key: str,
) -> list[dict]:
    """Each dataset picture's caption and training caption. A picture the captioner fails
    on has none (its run trains it on the instance prompt), with a warning naming it."""
    from PIL import Image

    captioned = []
    for entry in images:
        path = Path(dataset_dir) / entry["file"]
        try:
            with Image.open(path) as opened:
                caption = " ".join(captioner(opened.convert("RGB")).split())
            error = None if caption else "the caption model said nothing"
        except Exception as failure:  # any model or image failure: this still only
            caption, error = "", f"{type(failure).__name__}: {failure}"
        if error:
            log.warning(
                "could not caption %s (from %s): %s; it trains on the instance prompt",
                entry["file"], entry["source"], error,
            )  # fmt: skip
        captioned.append(
            {
                "file": entry["file"],
                "source": entry["source"],
                "caption": caption or None,
                "training_caption": training_caption(template, caption, key) if caption else None,
                "error": error,
            }
        )
    return captioned


def sidecar_caption(image: Path, relative: str) -> str | None:
    """The kohya convention: `image.txt` (or `.caption`) beside the image holds its caption.

    UTF-8, with or without the byte order mark Windows editors write. A file in another
    encoding stops the stage naming it (read on, its accents would train as U+FFFD); an empty
    one is warned about and gives the caption "". `relative` is the image's name as shown.
    """
    for suffix in sorted(CAPTION_SUFFIXES):
        path = image.with_suffix(suffix)
        if path.is_file():
            shown = f"{relative[: -len(image.suffix) or None]}{suffix}"
            try:
                text = path.read_bytes().decode("utf-8-sig")
            except UnicodeDecodeError as error:
                raise CaptionError(
                    f"caption file {shown} is not UTF-8 (byte 0x{error.object[error.start]:02x} "
                    f"at position {error.start}); save it as UTF-8 in your editor, or move it "
                    "away if it is not the caption of its image"
                ) from None
            caption = " ".join(text.split())
            if not caption:
                log.warning("caption file %s is empty: its image has no caption from it", shown)
            return caption
    return None


def sidecar_name(source: str) -> str:
    """A still's sidecar, as kohya names it: `folder/still.png` -> `folder/still.txt`."""
    return str(PurePosixPath(source).with_suffix(".txt"))


def write_sidecars(captioned: list[dict], folder: str | Path) -> list[str]:
    """Write each still's training caption beside where the still would lie, as the
    sidecars `captions: sidecar` reads. A video's frames share one sidecar there; it holds
    the first frame's caption. Returns the sidecars' names."""
    written: dict[str, str] = {}
    for entry in captioned:
        if entry["training_caption"] is not None:  # no caption: no sidecar, as with kohya
            written.setdefault(sidecar_name(entry["source"]), entry["training_caption"])
    for name, text in written.items():
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    return list(written)


def read_sidecars(images: list[dict], stills_dir: str | Path) -> list[dict]:
    """Each dataset picture's caption from the sidecar beside its still (or its video).
    None: no sidecar; "": an empty one (warned about)."""
    captions: dict[str, str | None] = {}
    for entry in images:
        source = entry["source"]
        if source not in captions:
            captions[source] = sidecar_caption(Path(stills_dir) / source, source)
    return [
        {"file": e["file"], "source": e["source"], "training_caption": captions[e["source"]]}
        for e in images
    ]


def sidecars_fingerprint(stills_dir: str | Path) -> str:
    """A hash of every caption sidecar's name and text under the stills folder: an edit
    changes it; a touch without an edit does not."""
    digest = hashlib.sha256()
    folder = Path(stills_dir)
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in CAPTION_SUFFIXES):
        if path.is_file():
            name = str(path.relative_to(folder)).encode("utf-8", "surrogateescape")
            digest.update(name + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def caption_dataset(
    dataset_dir: str | Path,
    *,
    caption_model: str,
    template: str,
    key: str,
    cache_dir: str | Path,
    manifest_path: str | Path,
    sidecar_dir: str | Path,
    device: str = "cpu",
) -> dict:
    """Caption every picture of the dataset (`captions: auto`); write the sidecars and the
    manifest the train jobs read."""
    from tqdm import tqdm

    images = read_json(Path(dataset_dir) / "manifest.json")["images"]
    captioner = load_captioner(caption_model, cache_dir, device)
    captioned = caption_stills(
        tqdm(images, desc="captioning", unit="still"), dataset_dir, captioner,
        template=template, key=key,
    )  # fmt: skip
    Path(sidecar_dir).mkdir(parents=True, exist_ok=True)
    sidecars = write_sidecars(captioned, sidecar_dir)
    manifest = {
        "caption_model": caption_model,
        "template": template,
        "key": key,
        "sidecars": sidecars,
        "images": captioned,
    }
    write_json(manifest_path, manifest)
    failed = sum(1 for entry in captioned if entry["caption"] is None)
    log.info("%d stills captioned, %d without a caption; sidecars in %s",
             len(captioned) - failed, failed, sidecar_dir)  # fmt: skip
    return manifest


def read_dataset_sidecars(
    dataset_dir: str | Path, *, stills_dir: str | Path, manifest_path: str | Path
) -> dict:
    """The training captions of `captions: sidecar`, read from beside the stills."""
    images = read_json(Path(dataset_dir) / "manifest.json")["images"]
    manifest = {"images": read_sidecars(images, stills_dir)}
    write_json(manifest_path, manifest)
    found = sum(1 for entry in manifest["images"] if entry["training_caption"])
    log.info("%d of %d pictures have a caption from a sidecar", found, len(images))
    return manifest
