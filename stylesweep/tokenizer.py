"""The SD 1.5 (CLIP ViT-L/14) tokenizer, rebuilt offline from the BPE file open_clip ships.

Stable Diffusion 1.5's tokenizer is OpenAI CLIP's byte-level BPE. open_clip bundles the
same merges (`bpe_simple_vocab_16e6.txt.gz`), so the vocab.json and merges.txt that
transformers' CLIPTokenizer reads can be derived without a download. The derivation mirrors
open_clip's SimpleTokenizer: 256 byte symbols, the same with `</w>`, then the first
48894 merges joined, then the start and end tokens: 49408 entries.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

from transformers.models.clip.tokenization_clip import CLIPTokenizer

VOCAB_SIZE = 49408
MAX_LENGTH = 77
NUM_MERGES = 49152 - 256 - 2  # as in CLIP: merges that fit the 49408-token vocabulary


def _bpe_merges() -> list[str]:
    path = resources.files("open_clip") / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    return lines[1 : NUM_MERGES + 1]  # line 0 is a version header


def write_clip_tokenizer_files(folder: str | Path) -> tuple[Path, Path]:
    """Write vocab.json and merges.txt of the CLIP tokenizer into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    from open_clip.tokenizer import bytes_to_unicode  # only when a tokenizer is made

    merges = _bpe_merges()
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += ["".join(merge.split()) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    vocab_file = folder / "vocab.json"
    merges_file = folder / "merges.txt"
    vocab_file.write_text(json.dumps({token: i for i, token in enumerate(vocab)}), "utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    return vocab_file, merges_file


def build_clip_tokenizer(folder: str | Path) -> CLIPTokenizer:
    """A CLIPTokenizer equal to SD 1.5's, saved in `folder`.

    `model_max_length` must be given: without it a saved CLIPTokenizer reloads with a huge
    default and the pipeline overflows inside the tokenizer.
    """
    write_clip_tokenizer_files(folder)
    # Loading through from_pretrained reads vocab.json/merges.txt the way every saved SD
    # tokenizer is read, whichever tokenizer backend this transformers version uses.
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), model_max_length=MAX_LENGTH)
    tokenizer.save_pretrained(str(folder))
    return tokenizer
