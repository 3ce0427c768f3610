"""Prompts as artists write them: AUTOMATIC1111 emphasis, key placement, and infotext.

Emphasis follows AUTOMATIC1111 (modules/prompt_parser.py): `(x)` multiplies the weight of x
by 1.1, `[x]` divides it by 1.1, `(x:w)` multiplies it by w, nesting multiplies, `\\(` and
friends are literal, `\\\\` is one backslash, a lone backslash is dropped (A1111 keeps what
follows it, which is nothing), unbalanced brackets are closed at the end of the prompt, and
neighbouring pieces of equal weight merge. `BREAK` (upper case, a word of its own) becomes
the piece ("BREAK", -1), which the encoder reads as "end the current 75-token chunk".
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass

from stylesweep.settings import PromptSettings
from stylesweep.subjects import portrait_subjects, slug

ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1
PLACEMENTS = ("start", "middle", "end")
MAX_WEIGHT = 3.0

# One token of the emphasis language per match: an escape, a bracket, an explicit weight
# closing a round bracket, a run of plain text, or a lone colon.
_TOKEN = re.compile(
    r"\\[()\[\]\\]|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:",
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


class PromptError(ValueError):
    """A prompt or prompt setting that cannot be used."""


def parse_emphasis(text: str) -> list[tuple[str, float]]:
    """Split a prompt into (text, weight) pieces, exactly as AUTOMATIC1111 reads it.

    >>> parse_emphasis("a (b:1.5) c")
    [('a ', 1.0), ('b', 1.5), (' c', 1.0)]
    """
    pieces: list[list] = []  # [text, weight], mutable while brackets close
    open_round: list[tuple[int, int]] = []  # (first piece index, column)
    open_square: list[tuple[int, int]] = []

    def scale_from(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= factor

    for match in _TOKEN.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):  # an escaped character; a lone backslash escapes nothing
            pieces.append([token[1:], 1.0])
        elif token == "(":
            open_round.append((len(pieces), match.start()))
        elif token == "[":
            open_square.append((len(pieces), match.start()))
        elif weight is not None and open_round:
            scale_from(open_round.pop()[0], float(weight))
        elif token == ")" and open_round:
            scale_from(open_round.pop()[0], ROUND_FACTOR)
        elif token == "]" and open_square:
            scale_from(open_square.pop()[0], SQUARE_FACTOR)
        else:
            for i, part in enumerate(_BREAK.split(token)):
                if i > 0:
                    pieces.append(["BREAK", -1.0])
                pieces.append([part, 1.0])

    for _, column in open_round + open_square:
        warnings.warn(
            f"prompt has an unclosed bracket at column {column + 1}: {text!r}; "
            "it is closed at the end of the prompt, as AUTOMATIC1111 does",
            stacklevel=2,
        )
    for start, _ in open_round:
        scale_from(start, ROUND_FACTOR)
    for start, _ in open_square:
        scale_from(start, SQUARE_FACTOR)

    if not pieces:
        return [("", 1.0)]
    merged = [pieces[0]]
    for piece in pieces[1:]:
        if piece[1] == merged[-1][1]:
            merged[-1][0] += piece[0]
        else:
            merged.append(piece)
    return [(piece_text, weight) for piece_text, weight in merged]


def emphasize(key: str, weight: float) -> str:
    """The key as an artist writes it with a weight: `key` or `(key:1.2)`."""
    if not 0 < weight <= MAX_WEIGHT:
        raise PromptError(f"key weight {weight} is outside (0, {MAX_WEIGHT:g}]")
    return key if weight == 1.0 else f"({key}:{weight:g})"


def insert_key(base_prompt: str, key_text: str, placement: str) -> str:
    """Put `key_text` at the start, middle or end of a comma-separated prompt.

    `middle` means the phrase boundary nearest the middle of the prompt, by characters.
    A placement containing `{key}` is a template used as is.
    """
    base = base_prompt.strip().strip(",").strip()
    if "{key}" in placement:
        return placement.replace("{key}", key_text)
    if placement == "start":
        return f"{key_text}, {base}" if base else key_text
    if placement == "end":
        return f"{base}, {key_text}" if base else key_text
    if placement == "middle":
        phrases = [p.strip() for p in base.split(",") if p.strip()]
        if len(phrases) < 2:
            return f"{base}, {key_text}" if base else key_text
        half = len(", ".join(phrases)) / 2
        ends = [len(", ".join(phrases[: i + 1])) for i in range(len(phrases) - 1)]
        cut = min(range(len(ends)), key=lambda i: abs(ends[i] - half)) + 1
        return ", ".join(phrases[:cut] + [key_text] + phrases[cut:])
    raise PromptError(
        f"unknown key placement {placement!r}: use start, middle, end or a template with {{key}}"
    )


def check_placements(placements: list[str]) -> None:
    """Refuse a placement that is neither start, middle nor end and, as a template, lacks
    `{key}`: the workflow checks it when it reads the config, before any job."""
    for placement in placements:
        if placement not in PLACEMENTS and "{key}" not in placement:
            raise PromptError(
                f"{placement!r} is not start, middle or end, and as a template it lacks "
                f"{{key}}, where the key goes; write e.g. '{{key}}, {placement}'"
            )


@dataclass(frozen=True)
class Variant:
    name: str
    placement: str
    weight: float
    prompt: str
    negative: str
    base_prompt: str  # the prompt without the key, for measuring fidelity to it
    subject: str  # `portrait` (or `portrait 1`, ...), or a name of prompts.subjects


def placement_label(placement: str) -> str:
    if placement in PLACEMENTS:
        return placement
    return "template-" + re.sub(r"[^A-Za-z0-9]+", "-", placement).strip("-")[:24]


def make_variants(base_prompts: str | list[str], key: str, settings: PromptSettings) -> list[dict]:
    """Every base prompt x placement x weight of `key`, then every subject's prompt x
    placement x weight (`subject_weights`, or `weights` when None), with names safe for file
    paths.

    With more than one base prompt (several portraits), names start with `p1_`, `p2_`, ...;
    a subject's names start with its own (`still-life_end_w1`).
    """
    if not key.strip():
        raise PromptError("train.key is empty: set the trigger key in config.yaml")
    if isinstance(base_prompts, str):
        base_prompts = [base_prompts]
    prompts = [  # (subject, name prefix, base prompt, weights)
        (subject, f"p{index}_" if len(base_prompts) > 1 else "", base_prompt, settings.weights)
        for index, (subject, base_prompt) in enumerate(
            zip(portrait_subjects(len(base_prompts)), base_prompts, strict=True), start=1
        )
    ]
    for subject, base_prompt in settings.subjects.items():
        subject_weights = settings.subject_weights or settings.weights
        prompts.append((subject, f"{slug(subject)}_", base_prompt, subject_weights))
    variants = []
    for subject, prefix, base_prompt, key_weights in prompts:
        for placement in settings.placements:
            for weight in key_weights:
                prompt = insert_key(base_prompt, emphasize(key, weight), placement)
                if key not in prompt:
                    raise PromptError(
                        f"prompt {prompt!r} does not contain the key {key!r} after placement"
                    )
                name = f"{prefix}{placement_label(placement)}_w{weight:g}"
                variant = Variant(
                    name, placement, weight, prompt, settings.negative, base_prompt, subject
                )
                variants.append(asdict(variant))
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names):
        raise PromptError(f"prompt variants have repeated names: {names}")
    return variants


def with_lora(prompt: str, name: str, strength: float) -> str:
    """A prompt as A1111 writes one rendered with a LoRA: `<lora:NAME:strength>` after it,
    set off by a space (A1111 strips the tag before encoding; a comma would stay behind)."""
    return f"{prompt} <lora:{name}:{strength:g}>".lstrip()


def infotext(
    prompt: str,
    negative: str,
    *,
    steps: int,
    sampler: str,
    cfg_scale: float,
    seed: int,
    width: int,
    height: int,
    model_hash: str,
    model_name: str,
    extra: dict[str, str] | None = None,
) -> str:
    """The AUTOMATIC1111 `parameters` text of an image: prompt, negative prompt, settings line."""
    fields = {
        "Steps": steps,
        "Sampler": sampler,
        "CFG scale": f"{cfg_scale:g}",
        "Seed": seed,
        "Size": f"{width}x{height}",
        "Model hash": model_hash[:10],
        "Model": model_name,
        **(extra or {}),
    }
    lines = [prompt]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    lines.append(", ".join(f"{k}: {_quote(str(v))}" for k, v in fields.items()))
    return "\n".join(lines)


def _quote(value: str) -> str:
    """Quote a settings value the way A1111 does when it holds a comma, colon or quote."""
    if any(c in value for c in ',:"\n'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value
