"""The trigger key's checks: a safe file name, and a textual-inversion key the vocabulary lacks.

Light (no torch or transformers): the workflow's config checks import it, so a bad key stops
the run before any job, and the library repeats the checks where the key is used.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Container
from importlib.resources import files

EXAMPLE = "vsynth"  # a made-up word that SD 1.5's vocabulary lacks, as a key should be


class BadKey(ValueError):
    """A trigger key that cannot be used; the message names it and what to do."""


def key_tokens(key: str, num_vectors: int) -> list[str]:
    """The tokens of a learned key: `key`, then `key_1` ... (diffusers' multi-vector names)."""
    return [key] + [f"{key}_{i}" for i in range(1, num_vectors)]


def file_name_problem(key: str) -> str | None:
    """Why `key` cannot be a file name (an exported embedding is `<key>.safetensors`), or None."""
    if "/" in key or "\\" in key:
        return "holds a / or \\, which would put the file in another folder"
    if any(unicodedata.category(char) == "Cc" for char in key):
        return "holds a control character (a tab, a line break ...)"
    if key.startswith("."):
        return "starts with a dot, which would hide the file (or name a folder: . and ..)"
    return None


def check_file_name(key: str) -> None:
    """Raise BadKey if `key` cannot safely name a file."""
    problem = file_name_problem(key)
    if problem:
        raise BadKey(
            f"config key 'train.key': {key!r} {problem}; the key names files, so use letters, "
            f"digits, - or _ (like {EXAMPLE!r})"
        )


def check_train_key(config: dict) -> None:
    """check_file_name of train.key, where the config has one (before the schema checks it)."""
    train = config.get("train")
    if isinstance(train, dict) and isinstance(train.get("key"), str):
        check_file_name(train["key"])


def vocabulary_clashes(key: str, num_vectors: int, vocabulary: Container[str]) -> list[str]:
    """The tokens of a learned key that are already entries of `vocabulary`.

    CLIP lowercases every prompt, so `Art` reads as the vocabulary's `art`.
    """
    return [token for token in key_tokens(key, num_vectors) if token.lower() in vocabulary]


def check_vocabulary(key: str, num_vectors: int, vocabulary: Container[str]) -> None:
    """Raise BadKey if a textual-inversion key's tokens are entries of the vocabulary.

    Such a key is refused rather than worked around: its token would keep the id of the
    vocabulary's entry, so that entry's embedding row would be overwritten while prompts,
    which tokenize the word as the word-final `art</w>`, never reach the learned vector; a
    fresh token of the same name would instead take that word away from every prompt. The
    exported embedding would not load either: diffusers' `load_textual_inversion` refuses
    a token the vocabulary holds, and A1111 calls an embedding by its key.
    """
    clashes = vocabulary_clashes(key, num_vectors, vocabulary)
    if clashes:
        raise BadKey(
            f"config key 'train.key': {key!r} is a textual-inversion key whose token "
            f"{clashes[0]!r} the tokenizer's vocabulary already holds, so the learned vectors "
            f"would not train; use a made-up word the vocabulary lacks, like {EXAMPLE!r}"
        )


@functools.cache
def sd15_vocabulary() -> frozenset[str]:
    """The entries of SD 1.5's CLIP vocabulary (the shipped copy the toy model uses)."""
    path = files("stylesweep") / "data" / "toy" / "model" / "tokenizer" / "vocab.json"
    return frozenset(json.loads(path.read_text(encoding="utf-8")))


def check_keys(key: str, runs: dict[str, dict]) -> None:
    """Check train.key and every run's key before any job: file names, then vocabulary."""
    for run_key in dict.fromkeys([key] + [settings["key"] for settings in runs.values()]):
        check_file_name(run_key)
    for settings in runs.values():
        if settings["method"] == "textual_inversion":
            check_vocabulary(settings["key"], settings["num_vectors"], sd15_vocabulary())
