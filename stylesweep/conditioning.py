"""Text conditioning with AUTOMATIC1111's emphasis numerics.

Diffusers' pipelines read `(key:1.2)` as literal characters, so weighted prompts are encoded
here and handed to the pipeline as `prompt_embeds`. The numerics are A1111's "Original" mode
(modules/sd_hijack_clip.py): tokenize each parsed piece, fill 75-token chunks (BREAK ends a
chunk), encode each chunk as start + 75 tokens + end, multiply every token's output vector by
its weight, then rescale the chunk so its mean is what it was before weighting. Chunks are
concatenated along the sequence axis; the negative prompt is padded to as many chunks.
(A1111 also moves a chunk break back to a comma near its end; that refinement is not here.)

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


def tokenize_weighted(prompt: str, tokenizer: CLIPTokenizer) -> list[tuple[list[int], list[float]]]:
    """Chunks of (token ids, weights), each at most 75 tokens, without start and end tokens."""
    chunks: list[tuple[list[int], list[float]]] = [([], [])]
    for text, weight in parse_emphasis(prompt):
        if weight == -1:  # BREAK
            chunks.append(([], []))
            continue
        for token in tokenizer(
            text, add_special_tokens=False, truncation=False, verbose=False
        ).input_ids:
            if len(chunks[-1][0]) == CHUNK:
                chunks.append(([], []))
            chunks[-1][0].append(token)
            chunks[-1][1].append(weight)
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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of a prompt and its negative, both [1, 77 x chunks, width]."""
    if emphasis not in EMPHASIS:
        raise ValueError(f"emphasis must be one of {', '.join(EMPHASIS)}, not {emphasis!r}")
    cond = tokenize_weighted(prompt, tokenizer)
    uncond = tokenize_weighted(negative, tokenizer)
    chunks = max(len(cond), len(uncond))
    cond += [([], [])] * (chunks - len(cond))
    uncond += [([], [])] * (chunks - len(uncond))

    def encode(parts):
        return torch.cat(
            [_encode_chunk(i, w, tokenizer, text_encoder, clip_skip, emphasis) for i, w in parts],
            dim=1,
        )

    return encode(cond), encode(uncond)
