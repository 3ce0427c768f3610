"""The toy world: captioned pictures drawn by code, the training data of `builtin:toy`.

Every index is a picture: its attributes are drawn from a random source seeded by the index
alone (Python's `random`, whose streams are stable across versions), then painted with PIL
at twice the size and reduced, and shaded with numpy. Most pictures are portraits (a face,
young or old, man or woman, with or without a hat, glasses or a beard, on a coloured
background, lit from one side); the rest are houses, landscapes and still lifes. Captions
are made of the phrases of `vocabulary()` and say only what was drawn (they may leave
things out, as real captions do), in the words of a CLIP Interrogator prompt: "portrait of
an old man wearing a hat, blue background, light from the left, real life photo".

A share of the pictures (every subject but abstract patterns) is painted in a style, named
in its caption where a photo's medium would stand: "psychedelic art" (the picture's
brightness and an interference of oscillators, posterized to a neon palette), "pop art" (its
brightness posterized to a neon palette), "glitch art" (bands of rows slipped sideways, the
colour channels apart) or "black and white photo". The other phrases still name what was
drawn under the style (a "pink background" stays one in pop art, in its own shade of the
palette). This is what lets the model learn a style as something laid over any subject, as
Stable Diffusion knows styles from its captions, so that a key trained on abstract stills
can later restyle a portrait.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

# Indices at or above this are held out: the trainer never draws them.
TRAIN_SIZE = 1_000_000
SUPERSAMPLE = 2  # painted at twice the size, then reduced: smooth edges at 64 px

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (196, 42, 40),
    "orange": (232, 128, 36),
    "yellow": (236, 204, 64),
    "green": (58, 146, 70),
    "blue": (46, 88, 196),
    "purple": (118, 60, 160),
    "pink": (236, 150, 182),
    "brown": (118, 74, 40),
    "grey": (128, 128, 128),
    "white": (236, 236, 230),
    "black": (28, 28, 30),
}
BACKGROUNDS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "grey", "white")
HAT_COLOURS = ("black", "brown", "red", "blue", "green", "white")
HAIR: dict[str, tuple[int, int, int]] = {
    "black": (26, 22, 20),
    "brown": (92, 58, 32),
    "blond": (214, 180, 96),
    "red": (170, 70, 30),
    "grey": (150, 150, 146),
    "white": (226, 226, 222),
}
YOUNG_HAIR = ("black", "brown", "blond", "red")
OLD_HAIR = ("grey", "white")
SKIN = [(250, 214, 186), (236, 188, 150), (214, 160, 118), (176, 120, 80), (124, 80, 52)]
LIGHTS = ("left", "right", "front")
WALL_COLOURS = ("white", "red", "yellow", "blue", "brown")
ROOF_COLOURS = ("red", "brown", "black", "blue", "green")
VASE_COLOURS = ("blue", "white", "red", "green", "yellow")
FRUITS = {"apples": (190, 30, 30), "oranges": (240, 140, 20), "lemons": (240, 220, 60)}
ONE_FRUIT = {"apples": "an apple", "oranges": "an orange", "lemons": "a lemon"}
SKIES = ("blue sky", "sunset", "cloudy sky")
SUBJECTS = {"portrait": 0.5, "house": 0.12, "landscape": 0.13, "still life": 0.12, "abstract": 0.13}
# Abstract patterns: bands of two or three of the world's colours. They teach the autoencoder
# to keep colour and shape in any picture (as SD's VAE, trained on everything, does), and
# give the model an idea of "abstract" for a style to refine.
PATTERNS = ("stripes", "waves", "rings", "checks", "blobs")
PATTERN_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "white", "black")
ABSTRACT_MEDIUM = "abstract art"

# Styles laid over a picture (any subject but abstract patterns), by the phrase that names
# them, with how often each is drawn; the rest of the pictures are plain.
STYLES = {
    "psychedelic art": 0.12,
    "pop art": 0.08,
    "glitch art": 0.06,
    "black and white photo": 0.06,
}
NEON_PALETTES = (  # dark to light, so that a style keeps the picture's shading
    ((24, 0, 72), (232, 0, 150), (0, 214, 232), (250, 246, 40)),
    ((0, 0, 0), (40, 40, 255), (255, 50, 200), (120, 255, 90)),
    ((40, 0, 90), (255, 60, 0), (0, 230, 170), (255, 255, 255)),
    ((10, 10, 40), (170, 0, 255), (255, 150, 0), (160, 255, 255)),
    ((60, 0, 40), (0, 120, 255), (255, 0, 90), (255, 240, 120)),
)

PORTRAIT_PREFIXES = ("portrait of", "real life photo of", "photo of")
MEDIUMS = ("real life photo", "photograph", "photo")
LIGHT_PHRASES = {
    "left": "light from the left",
    "right": "light from the right",
    "front": "soft light",
}
KEEP = 0.85  # how often a caption names a detail that was drawn


@dataclass(frozen=True)
class Picture:
    image: Image.Image
    caption: str
    attributes: dict[str, Any]


def draw(index: int, size: int = 64) -> Picture:
    """The picture of `index`: image, caption and attributes, the same on every machine."""
    rng = picture_random(index)
    attributes = sample_attributes(rng)
    return Picture(render(attributes, size), caption(attributes, rng), attributes)


def picture_random(index: int) -> random.Random:
    """The random source that draws picture `index` (its attributes, then its caption)."""
    return random.Random(f"stylesweep-toy-{index}")


def is_held_out(index: int) -> bool:
    return index >= TRAIN_SIZE


def held_out_indices(count: int) -> range:
    """The first `count` held-out indices, for evaluation."""
    return range(TRAIN_SIZE, TRAIN_SIZE + count)


def demo_portrait_index() -> int:
    """The demo's portrait: the first held-out photo (no style) of a person wearing a hat (the
    blog's subject), so the toy model has never trained on it."""
    for index in held_out_indices(1000):
        a = sample_attributes(picture_random(index))
        if a["subject"] == "portrait" and a["hat"] and not a["glasses"] and not a["style"]:
            return index
    raise AssertionError("no held-out portrait with a hat among the first 1000")


# --- Attributes ------------------------------------------------------------------------------
def sample_attributes(rng: random.Random) -> dict[str, Any]:
    subject = rng.choices(list(SUBJECTS), weights=list(SUBJECTS.values()))[0]
    sample = {
        "portrait": _portrait,
        "house": _house,
        "landscape": _landscape,
        "still life": _still_life,
        "abstract": _abstract,
    }[subject]
    attributes = {"subject": subject, **sample(rng)}
    if subject != "abstract":
        attributes |= _style(rng)
    return attributes


def _style(rng: random.Random) -> dict[str, Any]:
    """A style over the picture (or none), and what draws it: a palette, oscillators.

    Drawn for plain pictures too, so that the random stream after it is the same either way.
    """
    plain = 1 - sum(STYLES.values())
    style = rng.choices([None, *STYLES], weights=[plain, *STYLES.values()])[0]
    return {
        "style": style,
        "palette": rng.randrange(len(NEON_PALETTES)),
        "oscillators": [round(rng.uniform(3.0, 12.0), 3) for _ in range(4)],  # radians a picture
        "style_phase": round(rng.uniform(0, 2 * math.pi), 3),
    }


def restyle(attributes: dict[str, Any], style: str | None, index: int) -> dict[str, Any]:
    """The attributes painted in `style` (None: plain), any subject, abstract patterns too.
    A picture without style draws (an abstract one) gets them from a source seeded by its
    index, so the same call paints the same picture. For the style scorer's labelled data."""
    draws = attributes if "palette" in attributes else _style(random.Random(f"restyle-{index}"))
    return {**attributes, **{k: v for k, v in draws.items() if k != "style"}, "style": style}


def _portrait(rng: random.Random) -> dict[str, Any]:
    sex = rng.choice(("man", "woman"))
    age = "old" if rng.random() < 0.35 else "young"
    background = rng.choice(BACKGROUNDS)
    hat = rng.choice([c for c in HAT_COLOURS if c != background]) if rng.random() < 0.4 else None
    return {
        "sex": sex,
        "age": age,
        "hair": rng.choice(OLD_HAIR if age == "old" else YOUNG_HAIR),
        "long_hair": rng.random() < (0.75 if sex == "woman" else 0.08),
        "bald": sex == "man" and age == "old" and hat is None and rng.random() < 0.3,
        "beard": sex == "man" and rng.random() < (0.5 if age == "old" else 0.3),
        "glasses": rng.random() < (0.45 if age == "old" else 0.25),
        "hat": hat,
        "background": background,
        "light": rng.choice(LIGHTS),
        "skin": rng.randrange(len(SKIN)),
        "shirt": rng.choice(list(COLOURS)),
        "x": rng.uniform(-0.05, 0.05),
        "y": rng.uniform(-0.03, 0.03),
        "scale": rng.uniform(0.98, 1.15),
    }


def _house(rng: random.Random) -> dict[str, Any]:
    return {
        "wall": rng.choice(WALL_COLOURS),
        "roof": rng.choice(ROOF_COLOURS),
        "sky": rng.choice(SKIES),
        "tree": rng.random() < 0.5,
        "x": rng.uniform(-0.12, 0.12),
        "scale": rng.uniform(0.85, 1.1),
    }


def _landscape(rng: random.Random) -> dict[str, Any]:
    return {
        "terrain": rng.choice(("hills", "mountains")),
        "sky": rng.choice(SKIES),
        "sun": rng.random() < 0.7,
        "lake": rng.random() < 0.35,
        "sun_x": rng.uniform(0.15, 0.85),
        "phase": rng.uniform(0, 6.28),
        "horizon": rng.uniform(0.45, 0.6),
    }


def _still_life(rng: random.Random) -> dict[str, Any]:
    background = rng.choice(BACKGROUNDS)
    return {
        "vase": rng.choice([c for c in VASE_COLOURS if c != background]),
        "flowers": rng.random() < 0.5,
        "fruit": rng.choice(list(FRUITS)),
        "fruit_count": rng.randint(1, 4),
        "background": background,
        "vase_x": rng.uniform(0.28, 0.45),
    }


def _abstract(rng: random.Random) -> dict[str, Any]:
    return {
        "pattern": rng.choice(PATTERNS),
        "colours": rng.sample(PATTERN_COLOURS, rng.choice((2, 3))),
        "frequency": rng.uniform(1.5, 4.5),  # bands across the picture
        "angle": rng.uniform(0, math.pi),
        "phase": rng.uniform(0, 2 * math.pi),
        "centre": (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)),
        "warp": rng.uniform(0, 0.25),
        "seed": rng.getrandbits(32),
    }


# --- Captions --------------------------------------------------------------------------------
def caption(attributes: dict[str, Any], rng: random.Random) -> str:
    """A caption of the attributes: a subject phrase, details, a medium, comma-separated.

    It names nothing that was not drawn; each detail is named with probability KEEP.
    """
    subject = attributes["subject"]
    phrases = {
        "portrait": _portrait_phrases,
        "house": _house_phrases,
        "landscape": _landscape_phrases,
        "still life": _still_life_phrases,
        "abstract": _abstract_phrases,
    }[subject](attributes, rng)
    if attributes.get("style"):  # a style is named where a photo's medium would be
        if rng.random() < KEEP:
            phrases.append(attributes["style"])
        return ", ".join(phrases)
    medium = ABSTRACT_MEDIUM if subject == "abstract" else rng.choice(MEDIUMS)
    if rng.random() < 0.8 and medium not in phrases[0]:
        phrases.append(medium)
    return ", ".join(phrases)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _person(age: str, noun: str) -> str:
    words = f"{age} {noun}" if age else noun
    return f"{_article(words)} {words}"


def _wearing(hat: str | None, glasses: bool) -> str:
    items = []
    if hat:  # a colour, or "plain" for a hat whose colour goes unsaid
        items.append("a hat" if hat == "plain" else f"a {hat} hat")
    if glasses:
        items.append("glasses")
    return f" wearing {' and '.join(items)}" if items else ""


def _portrait_phrases(a: dict[str, Any], rng: random.Random) -> list[str]:
    def keep() -> bool:
        return rng.random() < KEEP

    noun = a["sex"] if keep() else "person"
    # youth goes mostly unsaid, as in real captions
    age = a["age"] if rng.random() < (KEEP if a["age"] == "old" else 0.2) else ""
    hat = (a["hat"] if rng.random() < 0.5 else "plain") if a["hat"] and keep() else None
    prefix = "portrait of" if a.get("style") else rng.choice(PORTRAIT_PREFIXES)
    subject = prefix + " " + _person(age, noun)
    phrases = [subject + _wearing(hat, a["glasses"] and keep())]
    if a["beard"] and keep():
        phrases.append("with a beard")
    if not a["bald"] and a["hat"] is None and rng.random() < 0.5:
        phrases.append(f"with {a['hair']} hair")
    if a["bald"] and keep():
        phrases.append("bald")
    if keep():
        phrases.append(f"{a['background']} background")
    if keep():
        phrases.append(LIGHT_PHRASES[a["light"]])
    return phrases


def _house_phrases(a: dict[str, Any], rng: random.Random) -> list[str]:
    wall = f"{a['wall']} " if rng.random() < 0.6 else ""
    roof = f" with a {a['roof']} roof" if rng.random() < KEEP else ""
    prefix = "" if a.get("style") else rng.choice(("", "photo of "))
    phrases = [f"{prefix}{_article(wall or 'house')} {wall}house{roof}"]
    if a["tree"] and rng.random() < KEEP:
        phrases.append("a tree")
    if rng.random() < KEEP:
        phrases.append(a["sky"])
    return phrases


def _landscape_phrases(a: dict[str, Any], rng: random.Random) -> list[str]:
    parts = ["green hills" if a["terrain"] == "hills" else "mountains"]
    if a["lake"] and rng.random() < KEEP:
        parts.append("a lake")
    if a["sun"] and rng.random() < KEEP:
        parts.append("the sun")
    phrases = ["a landscape with " + " and ".join(parts)]
    if rng.random() < KEEP:
        phrases.append(a["sky"])
    return phrases


def _still_life_phrases(a: dict[str, Any], rng: random.Random) -> list[str]:
    vase = f"a {a['vase']} vase" if rng.random() < KEEP else "a vase"
    if a["flowers"] and rng.random() < KEEP:
        vase += " with flowers"
    fruit = a["fruit"] if a["fruit_count"] > 1 else ONE_FRUIT[a["fruit"]]
    phrases = [f"still life of {vase} and {fruit} on a table"]
    if rng.random() < KEEP:
        phrases.append(f"{a['background']} background")
    return phrases


def _colour_pair(colours: list[str]) -> str:
    return f"{colours[0]} and {colours[1]} "


def _abstract_phrases(a: dict[str, Any], rng: random.Random) -> list[str]:
    colours = _colour_pair(a["colours"]) if rng.random() < KEEP else ""
    return [f"an abstract pattern of {colours}{a['pattern']}"]


def vocabulary() -> dict[str, list[str]]:
    """Every phrase a caption can hold, by kind: subjects (the first phrase), details, mediums.

    Captions are these phrases joined with ", " (a subject first, a medium last, if any).
    """
    people = [
        f"{prefix} {_person(age, noun)}{_wearing(hat, glasses)}"
        for prefix, age, noun, hat, glasses in product(
            PORTRAIT_PREFIXES,
            ("", "young", "old"),
            ("man", "woman", "person"),
            (None, "plain", *HAT_COLOURS),
            (False, True),
        )
    ]
    houses = [
        f"{prefix}{_article(wall or 'house')} {wall}house{roof}"
        for prefix, wall, roof in product(
            ("", "photo of "),
            ("", *(f"{w} " for w in WALL_COLOURS)),
            ("", *(f" with a {r} roof" for r in ROOF_COLOURS)),
        )
    ]
    landscapes = []
    for terrain, lake, sun in product(("green hills", "mountains"), (False, True), (False, True)):
        parts = [terrain] + ["a lake"] * lake + ["the sun"] * sun
        landscapes.append("a landscape with " + " and ".join(parts))
    fruits = [*FRUITS, *ONE_FRUIT.values()]
    still_lifes = [
        f"still life of {vase}{flowers} and {fruit} on a table"
        for vase, flowers, fruit in product(
            ["a vase", *(f"a {c} vase" for c in VASE_COLOURS)], ("", " with flowers"), fruits
        )
    ]
    pairs = [_colour_pair([a, b]) for a, b in product(PATTERN_COLOURS, repeat=2) if a != b]
    abstracts = [
        f"an abstract pattern of {colours}{pattern}"
        for pattern, colours in product(PATTERNS, ["", *pairs])
    ]
    details = [
        "with a beard",
        "bald",
        *(f"with {h} hair" for h in HAIR),
        *(f"{c} background" for c in BACKGROUNDS),
        *LIGHT_PHRASES.values(),
        "a tree",
        *SKIES,
    ]
    return {
        "subjects": people + houses + landscapes + still_lifes + abstracts,
        "details": details,
        "mediums": [*MEDIUMS, ABSTRACT_MEDIUM, *STYLES],
    }


def words() -> set[str]:
    """Every word a caption can hold."""
    return {w for phrases in vocabulary().values() for p in phrases for w in p.split()}


# --- Painting ------------------------------------------------------------------------------
class Canvas:
    """A picture and the mask of its foreground, painted together in unit coordinates."""

    def __init__(self, size: int, background: tuple[int, int, int]):
        self.size = size * SUPERSAMPLE
        self.image = Image.new("RGB", (self.size, self.size), background)
        self.mask = Image.new("L", (self.size, self.size), 0)
        self.paint = ImageDraw.Draw(self.image)
        self.cut = ImageDraw.Draw(self.mask)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        s = self.size
        return [x0 * s, y0 * s, x1 * s, y1 * s]

    def points(self, xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * self.size, y * self.size) for x, y in xy]

    def ellipse(self, cx, cy, rx, ry, fill, fg: bool = True) -> None:
        box = self.box(cx - rx, cy - ry, cx + rx, cy + ry)
        self.paint.ellipse(box, fill=fill)
        if fg:
            self.cut.ellipse(box, fill=255)

    def rect(self, x0, y0, x1, y1, fill, fg: bool = True) -> None:
        self.paint.rectangle(self.box(x0, y0, x1, y1), fill=fill)
        if fg:
            self.cut.rectangle(self.box(x0, y0, x1, y1), fill=255)

    def polygon(self, xy, fill, fg: bool = True) -> None:
        self.paint.polygon(self.points(xy), fill=fill)
        if fg:
            self.cut.polygon(self.points(xy), fill=255)

    def chord(self, cx, cy, rx, ry, start, end, fill) -> None:
        box = self.box(cx - rx, cy - ry, cx + rx, cy + ry)
        self.paint.chord(box, start, end, fill=fill)
        self.cut.chord(box, start, end, fill=255)

    def line(self, xy, fill, width: float) -> None:
        self.paint.line(self.points(xy), fill=fill, width=max(1, round(width * self.size)))

    def ring(self, cx, cy, r, fill, width: float) -> None:
        box = self.box(cx - r, cy - r, cx + r, cy + r)
        self.paint.ellipse(box, outline=fill, width=max(1, round(width * self.size)))

    def arrays(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The picture (float RGB, 0-255) and the foreground mask (0-1), reduced to `size`."""
        image = self.image.resize((size, size), Image.Resampling.BOX)
        mask = self.mask.resize((size, size), Image.Resampling.BOX)
        return np.asarray(image, np.float32), np.asarray(mask, np.float32)[..., None] / 255


def render(attributes: dict[str, Any], size: int = 64) -> Image.Image:
    """Paint the attributes as an RGB image of `size` pixels."""
    paint = {
        "portrait": _paint_portrait,
        "house": _paint_house,
        "landscape": _paint_landscape,
        "still life": _paint_still_life,
        "abstract": _paint_abstract,
    }[attributes["subject"]]
    pixels = paint(attributes, size)
    if attributes.get("style"):
        pixels = stylise(np.clip(pixels, 0, 255), attributes)
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGB")


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, round(c * factor))) for c in colour)  # type: ignore[return-value]


def _ramp(size: int, horizontal: bool) -> np.ndarray:
    """0 to 1 across (or down) the picture, shaped to multiply an (H, W, 3) array."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    return axis[None, :, None] if horizontal else axis[:, None, None]


def _paint_portrait(a: dict[str, Any], size: int) -> np.ndarray:
    canvas = Canvas(size, COLOURS[a["background"]])
    skin, hair = SKIN[a["skin"]], HAIR[a["hair"]]
    k, cx, cy = a["scale"], 0.5 + a["x"], 0.5 + a["y"]
    rx, ry = 0.17 * k, 0.22 * k  # the head
    top = cy - ry
    woman = a["sex"] == "woman"
    if a["long_hair"]:
        canvas.ellipse(cx, cy + 0.05 * k, rx * 1.35, ry * 1.25, hair)
        canvas.rect(cx - rx * 1.35, cy + 0.05 * k, cx + rx * 1.35, cy + 0.32 * k, hair)
    shoulders = 0.33 if woman else 0.4
    canvas.ellipse(cx, 1.06, shoulders * k, 0.27 * k, COLOURS[a["shirt"]])
    canvas.rect(
        cx - 0.055 * k, cy + ry * 0.6, cx + 0.055 * k, cy + ry + 0.1 * k, _shade(skin, 0.85)
    )
    for side in (-1, 1):  # ears
        canvas.ellipse(cx + side * rx, cy + 0.01, 0.03 * k, 0.045 * k, _shade(skin, 0.92))
    if not a["bald"] and not a["long_hair"]:
        canvas.ellipse(cx, cy - 0.02 * k, rx * 1.08, ry * 1.02, hair)  # short hair, behind
    canvas.ellipse(cx, cy, rx, ry, skin)
    if a["bald"]:
        for side in (-1, 1):
            canvas.ellipse(cx + side * rx * 0.95, cy - 0.02, 0.025 * k, 0.06 * k, hair)
    else:  # the hair over the forehead
        canvas.chord(cx, top + 0.09 * k, rx * 1.06, 0.12 * k, 180, 360, hair)
    eye_y, eye_dx = cy - 0.01 * k, 0.072 * k
    dark = (30, 24, 22)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        canvas.line(
            [(ex - 0.035 * k, eye_y - 0.045 * k), (ex + 0.035 * k, eye_y - 0.048 * k)],
            _shade(hair, 0.7) if a["hair"] not in OLD_HAIR else (110, 110, 110),
            0.013 * k,
        )
        canvas.ellipse(ex, eye_y, 0.032 * k, 0.018 * k, (245, 245, 240))
        canvas.ellipse(ex, eye_y, 0.016 * k, 0.017 * k, dark)
    canvas.polygon(
        [(cx, eye_y + 0.01), (cx - 0.022 * k, cy + 0.08 * k), (cx + 0.022 * k, cy + 0.08 * k)],
        _shade(skin, 0.82),
    )
    mouth_y = cy + 0.135 * k
    if a["beard"]:
        canvas.chord(cx, cy + 0.02 * k, rx * 1.02, ry * 0.98, 10, 170, hair)
        canvas.ellipse(cx, mouth_y - 0.025 * k, 0.07 * k, 0.022 * k, hair)  # moustache
    lips = (176, 40, 56) if woman else _shade(skin, 0.6)
    canvas.ellipse(cx, mouth_y, 0.055 * k, 0.017 * k, lips)
    if a["age"] == "old":
        for dy in (0.13, 0.1):
            canvas.line(
                [(cx - 0.07 * k, top + dy * k), (cx + 0.07 * k, top + dy * k)],
                _shade(skin, 0.75),
                0.008,
            )
        for side in (-1, 1):
            x = cx + side * 0.075 * k
            canvas.line(
                [(x, cy + 0.07 * k), (x + side * 0.012 * k, mouth_y + 0.01)],
                _shade(skin, 0.75),
                0.008,
            )
    if a["glasses"]:
        frame = (20, 20, 20)
        for side in (-1, 1):
            canvas.ring(cx + side * eye_dx, eye_y, 0.05 * k, frame, 0.018)
        canvas.line(
            [(cx - eye_dx + 0.05 * k, eye_y), (cx + eye_dx - 0.05 * k, eye_y)], frame, 0.016
        )
    if a["hat"]:
        colour = COLOURS[a["hat"]]
        canvas.rect(cx - rx * 0.95, top - 0.14 * k, cx + rx * 0.95, top + 0.05 * k, colour)
        canvas.ellipse(cx, top - 0.14 * k, rx * 0.95, 0.03 * k, colour)
        canvas.rect(
            cx - rx * 0.95, top + 0.0 * k, cx + rx * 0.95, top + 0.035 * k, _shade(colour, 0.55)
        )
        canvas.ellipse(cx, top + 0.05 * k, rx * 1.75, 0.035 * k, _shade(colour, 0.85))
    pixels, mask = canvas.arrays(size)
    x = _ramp(size, horizontal=True)
    light = {"left": 1.25 - 0.65 * x, "right": 0.6 + 0.65 * x, "front": 1.08 - 0.16 * abs(x - 0.5)}
    background = {"left": 1.1 - 0.2 * x, "right": 0.9 + 0.2 * x, "front": 1.0}
    return pixels * (mask * light[a["light"]] + (1 - mask) * background[a["light"]])


def _sky(canvas: Canvas, sky: str, horizon: float, size: int) -> None:
    top, low = {
        "blue sky": ((70, 120, 210), (170, 205, 240)),
        "sunset": ((90, 60, 140), (250, 150, 70)),
        "cloudy sky": ((130, 135, 145), (200, 200, 205)),
    }[sky]
    steps = 12
    for i in range(steps):
        t = i / (steps - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, low, strict=True))
        canvas.rect(0, horizon * i / steps, 1, horizon * (i + 1) / steps + 0.01, colour, fg=False)
    if sky == "cloudy sky":
        for cx, cy in ((0.25, 0.15), (0.7, 0.22)):
            canvas.ellipse(cx, cy, 0.16, 0.05, (225, 225, 228), fg=False)
            canvas.ellipse(cx + 0.05, cy - 0.03, 0.09, 0.045, (232, 232, 235), fg=False)


def _paint_house(a: dict[str, Any], size: int) -> np.ndarray:
    canvas = Canvas(size, (0, 0, 0))
    k, hx = a["scale"], 0.5 + a["x"]
    ground = 0.72
    _sky(canvas, a["sky"], ground, size)
    canvas.rect(0, ground, 1, 1, (70, 140, 60) if a["sky"] != "sunset" else (60, 100, 50))
    if a["tree"]:
        tx = 0.14 if hx > 0.5 else 0.86
        canvas.rect(tx - 0.025, ground - 0.18, tx + 0.025, ground + 0.03, (90, 60, 30))
        canvas.ellipse(tx, ground - 0.25, 0.1, 0.13, (40, 110, 45))
    w, h = 0.24 * k, 0.26 * k
    wall, roof = COLOURS[a["wall"]], COLOURS[a["roof"]]
    canvas.rect(hx - w, ground - h, hx + w, ground + 0.02, wall)
    canvas.rect(hx + w * 0.45, ground - h - 0.17 * k, hx + w * 0.7, ground - h, _shade(roof, 0.8))
    canvas.polygon(
        [(hx - w - 0.04, ground - h), (hx, ground - h - 0.2 * k), (hx + w + 0.04, ground - h)], roof
    )
    canvas.rect(hx - 0.045 * k, ground - 0.15 * k, hx + 0.045 * k, ground + 0.02, (80, 50, 30))
    for side in (-1, 1):
        wx = hx + side * w * 0.6
        canvas.rect(
            wx - 0.05 * k, ground - h + 0.06 * k, wx + 0.05 * k, ground - h + 0.15 * k, (60, 60, 70)
        )
        canvas.rect(
            wx - 0.04 * k,
            ground - h + 0.07 * k,
            wx + 0.04 * k,
            ground - h + 0.14 * k,
            (240, 220, 140) if a["sky"] == "sunset" else (170, 200, 230),
        )
    pixels, mask = canvas.arrays(size)
    return pixels * (1.08 - 0.16 * _ramp(size, horizontal=True) * mask)


def _paint_landscape(a: dict[str, Any], size: int) -> np.ndarray:
    canvas = Canvas(size, (0, 0, 0))
    horizon, sunset = a["horizon"], a["sky"] == "sunset"
    _sky(canvas, a["sky"], horizon + 0.1, size)
    if a["sun"]:
        r = 0.1 if sunset else 0.07
        sy = horizon - 0.05 if sunset else 0.16
        canvas.ellipse(a["sun_x"], sy, r, r, (250, 120, 40) if sunset else (255, 230, 90), fg=False)
    xs = np.linspace(0, 1, 33)
    layers = [(0.0, (60, 130, 60)), (0.12, (40, 105, 45))]
    if a["terrain"] == "mountains":
        peaks = [
            (0.15 + 0.35 * i + 0.1 * np.sin(a["phase"] + i), 0.18 + 0.06 * (i % 2))
            for i in range(3)
        ]
        for px, height in peaks:
            base = horizon + 0.08
            top = base - height - 0.12
            canvas.polygon([(px - 0.32, base), (px, top), (px + 0.32, base)], (110, 110, 120))
            canvas.polygon(
                [(px - 0.08, top + 0.09), (px, top), (px + 0.08, top + 0.09)], (240, 240, 245)
            )
        layers = [(0.1, (60, 120, 60))]
    for offset, colour in layers:
        ys = (
            horizon
            + offset
            + 0.04 * np.sin(6 * xs + a["phase"] + 3 * offset)
            + 0.02 * np.sin(13 * xs + 2 * a["phase"])
        )
        if sunset:
            colour = _shade(colour, 0.7)
        canvas.polygon([(0, 1.01), *zip(xs, ys, strict=True), (1, 1.01)], colour)
    if a["lake"]:
        canvas.ellipse(0.5, 0.9, 0.42, 0.08, (70, 120, 190) if not sunset else (200, 120, 90))
    pixels, _ = canvas.arrays(size)
    return pixels


def _paint_still_life(a: dict[str, Any], size: int) -> np.ndarray:
    canvas = Canvas(size, COLOURS[a["background"]])
    table = 0.66
    canvas.rect(0, table, 1, 1, (130, 86, 50))
    canvas.rect(0, table, 1, table + 0.025, (160, 112, 70))
    vx, vase = a["vase_x"], COLOURS[a["vase"]]
    if a["flowers"]:
        for i, colour in enumerate(((230, 60, 80), (250, 220, 80), (240, 240, 240))):
            fx, fy = vx + (i - 1) * 0.07, table - 0.42 + 0.04 * (i % 2)
            canvas.line([(vx, table - 0.25), (fx, fy)], (50, 120, 50), 0.012)
            canvas.ellipse(fx, fy, 0.04, 0.04, colour)
    canvas.rect(vx - 0.04, table - 0.32, vx + 0.04, table - 0.2, vase)
    canvas.ellipse(vx, table - 0.32, 0.055, 0.018, _shade(vase, 0.8))
    canvas.ellipse(vx, table - 0.1, 0.11, 0.13, vase)
    colour = FRUITS[a["fruit"]]
    for i in range(a["fruit_count"]):
        fx = 0.6 + 0.14 * (i % 3) + 0.07 * (i // 3)
        fy = table + 0.08 - 0.1 * (i // 3)
        rx = 0.07 if a["fruit"] != "lemons" else 0.085
        canvas.ellipse(fx, fy, rx, 0.065, colour)
        canvas.ellipse(fx - 0.02, fy - 0.02, 0.02, 0.015, _shade(colour, 1.25))
    pixels, mask = canvas.arrays(size)
    return pixels * (1.1 - 0.2 * _ramp(size, horizontal=True) * (0.5 + 0.5 * mask))


def _paint_abstract(a: dict[str, Any], size: int) -> np.ndarray:
    """Bands of the pattern's colours along a field: stripes, waves, rings, checks or blobs."""
    n = size * SUPERSAMPLE
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    along = x * math.cos(a["angle"]) + y * math.sin(a["angle"])
    across = -x * math.sin(a["angle"]) + y * math.cos(a["angle"])
    turns = 2 * math.pi * a["frequency"]
    cx, cy = a["centre"]
    if a["pattern"] == "stripes":
        field = np.sin(turns * along + a["phase"])
    elif a["pattern"] == "waves":
        field = np.sin(turns * along + a["phase"] + 2.5 * np.sin(2 * math.pi * 1.5 * across))
    elif a["pattern"] == "rings":
        radius = np.hypot(x - cx, y - cy)
        field = np.sin(turns * radius * 1.5 + a["phase"])
    elif a["pattern"] == "checks":
        field = np.sign(np.sin(turns * along + a["phase"]) * np.sin(turns * across))
    else:  # blobs: a sum of a few round bumps
        rng = np.random.default_rng(a["seed"])
        field = np.zeros_like(x)
        for bx, by, width in rng.uniform((0, 0, 0.08), (1, 1, 0.2), (6, 3)):
            field += np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * width**2))
        field = field / field.max() * 2 - 1
    field = field + a["warp"] * np.sin(2 * math.pi * 2 * (x + y) + a["phase"])
    palette = np.array([COLOURS[c] for c in a["colours"]], np.float32)
    bands = len(palette)
    index = np.clip(((field + 1) / 2 * bands).astype(int), 0, bands - 1)
    image = Image.fromarray(palette[index].astype(np.uint8), "RGB")
    return np.asarray(image.resize((size, size), Image.Resampling.BOX), np.float32)


# --- Styles --------------------------------------------------------------------------------
def stylise(pixels: np.ndarray, a: dict[str, Any]) -> np.ndarray:
    """The picture (float RGB, 0-255) in the style `a["style"]`; the subject stays readable
    through its brightness (and, for glitch art, its own colours)."""
    style = a["style"]
    if style == "glitch art":  # the picture's own colours, moved: no brightness needed
        return _glitch(pixels, a)
    size = pixels.shape[0]
    brightness = pixels @ np.array([0.299, 0.587, 0.114], np.float32) / 255
    if style == "black and white photo":
        grey = np.clip((brightness - 0.5) * 1.25 + 0.5, 0, 1) * 255
        return np.repeat(grey[..., None], 3, axis=2)
    field = brightness
    if style == "psychedelic art":
        y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
        f1, f2, f3, f4 = a["oscillators"]  # the demo stills' oscillators, at their scale
        phase = a["style_phase"]
        waves = np.sin(f1 * x + 2 * np.sin(f2 * y) + phase) + np.sin(f3 * y + 2 * np.sin(f4 * x))
        field = brightness + 0.1 * waves
    palette = np.array(NEON_PALETTES[a["palette"]], np.float32)
    levels = np.quantile(field, np.linspace(0, 1, len(palette) + 1)[1:-1])
    return palette[np.digitize(field, levels)]


def _glitch(pixels: np.ndarray, a: dict[str, Any]) -> np.ndarray:
    """Bands of rows slipped sideways by a few pixels, red and blue apart, colours boosted."""
    size = pixels.shape[0]
    band = max(2, size // 10)
    out = np.empty_like(pixels)
    for start in range(0, size, band):
        turn = a["oscillators"][(start // band) % 4]
        shift = round((turn - 7.5) * size / 48)  # up to a tenth of the picture either way
        out[start : start + band] = np.roll(pixels[start : start + band], shift, axis=1)
    split = max(1, size // 21)
    out[..., 0] = np.roll(out[..., 0], split, axis=1)
    out[..., 2] = np.roll(out[..., 2], -split, axis=1)
    return np.clip((out - 128) * 1.3 + 128, 0, 255)
