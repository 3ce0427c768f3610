"""Text conditioning with AUTOMATIC1111's emphasis numerics and chunking.

Diffusers' pipelines read `(key:1.2)` as literal characters, so weighted prompts are encoded
here and handed to the pipeline as `prompt_embeds`. Everything follows A1111's defaults
(modules/sd_hijack_clip.py, `tokenize_line` and `process_tokens`, "Original" emphasis):

- Chunks. Each parsed piece is tokenized on its own and its tokens fill 75-token chunks.
  `BREAK` ends the current chunk (even an empty one). When a chunk is full and the next token
  is not a comma, and the chunk's last comma is within `wrap_length` tokens of its end
  (A1111's "Prompt word wrap length limit", `comma_padding_backtrack`, default 20; 0 turns it
  off), the tokens after that comma move to the next chunk with their weights, and the chunk
  is padded. A comma that arrives when the chunk is already full opens the next chunk and is
  not remembered as a wrap point there; a chunk ended by BREAK or by the prompt's end is never
  re-wrapped.
- Numerics. Each chunk is encoded as start + 75 tokens + end; every token's output vector is
  multiplied by its weight, then the chunk is rescaled so its mean is what it was before
  weighting. Chunks are concatenated along the sequence axis.
- Prompt and negative keep their own lengths (A1111's "Pad prompt/negative prompt",
  `pad_cond_uncond`, is off by default: the UNet runs them separately). `pad_conds=True`
  appends empty-prompt chunks to the shorter one, as that option does.

A1111 also keeps a textual-inversion embedding's vectors in one chunk; here a learned key is
written as its tokens and is not treated specially.

`emphasis="comfy"` weights the way ComfyUI does instead: each token's vector moves away from
(or towards) the empty prompt's vector at that position, z = (z - z_empty) * w + z_empty, and
no mean is restored.
"""

from __future__ import annotations

import torch
from transformers import CLIPTextModel, CLIPTokenizer

from stylesweep.base import final_layer_norm
from stylesweep.prompts import parse_emphasis

CHUNK = 75
EMPHASIS = ("a1111", "comfy")
WRAP_LENGTH = 20  # A1111's default "Prompt word wrap length limit"

Chunk = tuple[list[int], list[float]]


def tokenize_weighted(
    prompt: str, tokenizer: CLIPTokenizer, wrap_length: int = WRAP_LENGTH
) -> list[Chunk]:
    """Chunks of (token ids, weights), each at most 75 tokens, without start and end tokens.

    A chunk shorter than 75 tokens is padded with end tokens of weight 1 when encoded.
    """
    if wrap_length < 0:
        raise ValueError(f"wrap_length must be 0 or more, not {wrap_length}")
    comma = tokenizer.convert_tokens_to_ids(",</w>")  # as A1111: the vocabulary's ",</w>"
    comma = None if comma == tokenizer.unk_token_id else comma
    chunks: list[Chunk] = []
    ids: list[int] = []
    weights: list[float] = []
    last_comma = -1  # index of the last comma in the current chunk, -1 for none

    for text, weight in parse_emphasis(prompt):
        if text == "BREAK" and weight == -1:
            chunks.append((ids, weights))
            ids, weights, last_comma = [], [], -1
            continue
        for token in tokenizer(
            text, add_special_tokens=False, truncation=False, verbose=False
        ).input_ids:
            if token == comma:
                last_comma = len(ids)
            elif (
                wrap_length
                and len(ids) == CHUNK
                and last_comma != -1
                and CHUNK - last_comma <= wrap_length
            ):
                # the words after the comma move on to the next chunk, weights and all
                cut = last_comma + 1
                chunks.append((ids[:cut], weights[:cut]))
                ids, weights, last_comma = ids[cut:], weights[cut:], -1
            if len(ids) == CHUNK:
                chunks.append((ids, weights))
                ids, weights, last_comma = [], [], -1
            ids.append(token)
            weights.append(weight)
    if ids or not chunks:
        chunks.append((ids, weights))
    return chunks


def _encode_chunk(
    ids: list[int],
    weights: list[float],
    tokenizer: CLIPTokenizer,
    text_encoder: CLIPTextModel,
    clip_skip: int,
    emphasis: str,
) -> torch.Tensor:
    full_weights = [1.0] + weights + [1.0] * (CHUNK - len(ids) + 1)
    z = _encode_ids(ids, tokenizer, text_encoder, clip_skip)
    if all(w == 1.0 for w in full_weights):
        return z
    weight = torch.tensor(full_weights, device=z.device, dtype=z.dtype)[None, :, None]
    if emphasis == "comfy":
        empty = _encode_ids([], tokenizer, text_encoder, clip_skip)
        return (z - empty) * weight + empty
    original_mean = z.mean()
    z = z * weight
    return z * (original_mean / z.mean())


def _encode_ids(
    ids: list[int], tokenizer: CLIPTokenizer, text_encoder: CLIPTextModel, clip_skip: int
) -> torch.Tensor:
    """Encode start + ids + end, padded with end tokens to 77, at the given CLIP skip."""
    full_ids = [tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id] * (CHUNK - len(ids) + 1)
    input_ids = torch.tensor([full_ids], device=text_encoder.device)
    if clip_skip > 1:
        output = text_encoder(input_ids, output_hidden_states=True)
        return final_layer_norm(text_encoder)(output.hidden_states[-clip_skip])
    return text_encoder(input_ids)[0]


@torch.no_grad()
def encode_prompts(
    prompt: str,
    negative: str,
    tokenizer: CLIPTokenizer,
    text_encoder: CLIPTextModel,
    clip_skip: int = 1,
    emphasis: str = "a1111",
    wrap_length: int = WRAP_LENGTH,
    pad_conds: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of a prompt and its negative, [1, 77 x chunks, width] each.

    Their chunk counts may differ; with `pad_conds` the shorter one is padded at its end with
    the empty prompt's chunk (A1111's `pad_cond_uncond`) so both have the same length.
    """
    if emphasis not in EMPHASIS:
        raise ValueError(f"emphasis must be one of {', '.join(EMPHASIS)}, not {emphasis!r}")
    cond = tokenize_weighted(prompt, tokenizer, wrap_length)
    uncond = tokenize_weighted(negative, tokenizer, wrap_length)
    if pad_conds:
        chunks = max(len(cond), len(uncond))
        cond += [([], [])] * (chunks - len(cond))
        uncond += [([], [])] * (chunks - len(uncond))

    def encode(parts: list[Chunk]) -> torch.Tensor:
        return torch.cat(
            [_encode_chunk(i, w, tokenizer, text_encoder, clip_skip, emphasis) for i, w in parts],
            dim=1,
        )

    return encode(cond), encode(uncond)
