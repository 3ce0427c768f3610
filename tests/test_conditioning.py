import random
import warnings

import pytest
import torch
from diffusers import StableDiffusionPipeline

from stylesweep.conditioning import encode_prompts, tokenize_weighted
from stylesweep.prompts import parse_emphasis


@pytest.fixture(scope="module")
def pipeline(tiny_model):
    return StableDiffusionPipeline.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def tokenizer(components):
    return components.tokenizer


# --- AUTOMATIC1111's chunking, restated independently -------------------------------------
# The reference below follows the steps of `tokenize_line` in AUTOMATIC1111's
# modules/sd_hijack_clip.py (v1.10), written from that source and not from stylesweep's
# chunker: it builds finished 77-token chunks (start, 75 tokens, end; multipliers beside
# them) the way A1111 hands them to the text encoder. Textual-inversion embeddings are left
# out (stylesweep writes a learned key as tokens). Parsing is parse_emphasis, which
# tests/test_prompts.py pins to A1111's parse_prompt_attention.


def a1111_chunks(prompt, tokenizer, backtrack=20):
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    comma = tokenizer.get_vocab()[",</w>"]
    parsed = parse_emphasis(prompt)
    tokenized = tokenizer([t for t, _ in parsed], truncation=False, add_special_tokens=False)
    finished = []
    current = {"tokens": [], "multipliers": [], "last_comma": -1}

    def next_chunk():
        # pad to 75 with end tokens, frame with start and end, forget the comma
        tokens, multipliers = current["tokens"], current["multipliers"]
        padding = 75 - len(tokens)
        finished.append(
            (
                [start] + tokens + [end] * padding + [end],
                [1.0] + multipliers + [1.0] * padding + [1.0],
            )
        )
        current.update(tokens=[], multipliers=[], last_comma=-1)

    for token_ids, (text, weight) in zip(tokenized["input_ids"], parsed, strict=True):
        if text == "BREAK" and weight == -1:
            next_chunk()
            continue
        for token in token_ids:
            tokens = current["tokens"]
            if token == comma:
                current["last_comma"] = len(tokens)
            elif (
                backtrack != 0
                and len(tokens) == 75
                and current["last_comma"] != -1
                and len(tokens) - current["last_comma"] <= backtrack
            ):
                break_location = current["last_comma"] + 1
                relocated = tokens[break_location:], current["multipliers"][break_location:]
                current["tokens"] = tokens[:break_location]
                current["multipliers"] = current["multipliers"][:break_location]
                next_chunk()
                current["tokens"], current["multipliers"] = list(relocated[0]), list(relocated[1])
            if len(current["tokens"]) == 75:
                next_chunk()
            current["tokens"].append(token)
            current["multipliers"].append(weight)
    if current["tokens"] or not finished:
        next_chunk()
    return finished


def ours(prompt, tokenizer, wrap_length=20):
    """stylesweep's chunks as the encoder frames them: start, ids, end tokens to 77."""
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    return [
        ([start] + ids + [end] * (76 - len(ids)), [1.0] + weights + [1.0] * (76 - len(ids)))
        for ids, weights in tokenize_weighted(prompt, tokenizer, wrap_length)
    ]


def words(count, commas=(), word="red"):
    """A prompt of `count` one-token words, with commas at the given token indices."""
    return " ".join("," if i in commas else word for i in range(count))


def lengths(prompt, tokenizer, wrap_length=20):
    return [len(ids) for ids, _ in tokenize_weighted(prompt, tokenizer, wrap_length)]


def test_the_test_prompts_have_the_token_counts_they_claim(tokenizer):
    ids = tokenizer(words(92, {10, 58}), add_special_tokens=False).input_ids
    assert len(ids) == 92 and [i for i, t in enumerate(ids) if t == 267] == [10, 58]


def test_a_long_prompt_wraps_at_its_last_comma_near_the_chunk_end(tokenizer):
    # the field notes' example: 92 tokens, last comma at token 58
    prompt = words(92, {10, 58})
    assert lengths(prompt, tokenizer) == [59, 33]
    assert lengths(prompt, tokenizer, wrap_length=0) == [75, 17]
    assert ours(prompt, tokenizer) == a1111_chunks(prompt, tokenizer)
    assert ours(prompt, tokenizer, 0) == a1111_chunks(prompt, tokenizer, backtrack=0)


@pytest.mark.parametrize("wrap_length", [0, 1, 19, 20, 21, 54, 55, 56, 74])
def test_chunks_match_a1111_for_every_comma_position_near_the_edge(tokenizer, wrap_length):
    # a comma at token i of the first chunk is 75 - i tokens from its end
    for comma in (0, 1, 19, 20, 21, 54, 55, 56, 60, 73, 74, 75, 76):
        for count in (74, 75, 76, 90, 150, 160):
            prompt = words(count, {comma})
            assert ours(prompt, tokenizer, wrap_length) == a1111_chunks(
                prompt, tokenizer, wrap_length
            ), (comma, count)


def test_wrap_distance_is_counted_as_a1111_counts_it(tokenizer):
    # 75 - (comma index) <= wrap length: at 20 a comma at 55 wraps, at 54 it does not
    assert lengths(words(80, {54}), tokenizer) == [75, 5]
    assert lengths(words(80, {55}), tokenizer) == [56, 24]
    assert lengths(words(80, {56}), tokenizer) == [57, 23]
    assert lengths(words(80, {74}), tokenizer) == [75, 5]  # nothing after the comma to move
    # the distances 54, 55, 56 and 74 from the chunk's end, at the longest wrap A1111 allows
    assert lengths(words(80, {75 - 54}), tokenizer, 74) == [22, 58]
    # the moved tokens fill the next chunk, whose last comma was reset: cut at 75 there
    assert lengths(words(80, {75 - 74}), tokenizer, 74) == [2, 75, 3]
    assert lengths(words(80, {75 - 74}), tokenizer, 73) == [75, 5]


def test_a_comma_that_overflows_a_full_chunk_does_not_wrap_it(tokenizer):
    # the 76th token is a comma: A1111 starts the next chunk with it and never looks back
    prompt = words(90, {60, 75})
    assert lengths(prompt, tokenizer) == [75, 15]
    assert ours(prompt, tokenizer) == a1111_chunks(prompt, tokenizer)


def test_later_chunks_wrap_at_their_own_commas(tokenizer):
    prompt = words(400, set(range(6, 400, 7)))  # a comma every seventh token
    assert lengths(prompt, tokenizer) == [70, 70, 70, 70, 70, 50]
    for wrap_length in (0, 3, 4, 20):
        assert ours(prompt, tokenizer, wrap_length) == a1111_chunks(prompt, tokenizer, wrap_length)


def test_break_next_to_a_wrap(tokenizer):
    full = words(75, {60})
    cases = {
        f"{full} BREAK red red": [75, 2],  # a chunk BREAK ends is not re-wrapped
        f"{words(74, {60})} BREAK red": [74, 1],
        f"{full} red BREAK red": [61, 15, 1],  # wrapped by the 76th token, then BREAK
        f"{full} , BREAK red": [75, 1, 1],  # the overflowing comma gets a chunk of its own
        "red BREAK": [1],  # BREAK at the end adds no empty chunk
        "BREAK red": [0, 1],  # at the start it does
        "red BREAK BREAK red": [1, 0, 1],
        "BREAK": [0],
        "": [0],
    }
    for prompt, expected in cases.items():
        assert lengths(prompt, tokenizer) == expected, prompt
        assert ours(prompt, tokenizer) == a1111_chunks(prompt, tokenizer), prompt


def test_emphasis_weights_travel_with_their_tokens_across_a_wrap(tokenizer):
    prompt = words(60) + " , (" + words(20, word="blue") + ":1.3) [" + words(3) + "]"
    chunks = tokenize_weighted(prompt, tokenizer)
    assert [len(ids) for ids, _ in chunks] == [61, 23]
    assert chunks[0][1] == [1.0] * 61
    assert chunks[1][1] == [1.3] * 20 + [pytest.approx(1 / 1.1)] * 3
    assert ours(prompt, tokenizer) == a1111_chunks(prompt, tokenizer)


def test_random_prompts_chunk_as_in_a1111(tokenizer):
    pieces = ["red", "blue cat", ",", ", ,", "(green:1.2)", "[soft]", "((sky))", "BREAK",
              "\\(x\\)", "a,b", "!,", "big (red, blue:0.8) hat", "(open"]  # fmt: skip
    rng = random.Random(0)
    for _ in range(60):
        prompt = " ".join(rng.choices(pieces, k=rng.randint(1, 140)))
        for wrap_length in (0, 1, 20, 74):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "(open" leaves a bracket unclosed
                mine = ours(prompt, tokenizer, wrap_length)
                reference = a1111_chunks(prompt, tokenizer, wrap_length)
            assert mine == reference, (prompt, wrap_length)


def test_wrapped_chunks_encode_like_their_own_prompts(pipeline):
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    prompt = words(92, {10, 58})
    cond, uncond = encode_prompts(prompt, "", tokenizer, encoder)
    assert cond.shape[1] == 154 and uncond.shape[1] == 77
    first, _ = encode_prompts(words(59, {10, 58}), "", tokenizer, encoder)
    second, _ = encode_prompts(words(33), "", tokenizer, encoder)
    assert torch.equal(cond, torch.cat([first, second], dim=1))
    cut, _ = encode_prompts(prompt, "", tokenizer, encoder, wrap_length=0)
    assert not torch.allclose(cut, cond)


def test_unweighted_prompt_encodes_exactly_like_the_stock_pipeline(pipeline):
    cond, uncond = encode_prompts(
        "a portrait of an astronaut", "blurry", pipeline.tokenizer, pipeline.text_encoder
    )
    stock_cond, stock_uncond = pipeline.encode_prompt(
        "a portrait of an astronaut", "cpu", 1, True, "blurry"
    )
    assert torch.equal(cond, stock_cond)
    assert torch.equal(uncond, stock_uncond)


def test_weight_scales_the_token_and_restores_the_mean(pipeline):
    plain, _ = encode_prompts("a, vsynth, c", "", pipeline.tokenizer, pipeline.text_encoder)
    weighted, _ = encode_prompts(
        "a, (vsynth:1.5), c", "", pipeline.tokenizer, pipeline.text_encoder
    )
    assert weighted.shape == plain.shape
    assert torch.isfinite(weighted).all()
    assert weighted.mean().item() == pytest.approx(plain.mean().item(), rel=1e-5)
    # A1111's numerics: every token's vector times its weight, then rescaled to the old mean
    ((ids, token_weights),) = tokenize_weighted("a, (vsynth:1.5), c", pipeline.tokenizer)
    assert [ids] == [i for i, _ in tokenize_weighted("a, vsynth, c", pipeline.tokenizer)]
    assert 1.5 in token_weights and 1.0 in token_weights
    w = torch.tensor([1.0] + token_weights + [1.0] * (76 - len(token_weights)))[None, :, None]
    expected = plain * w * (plain.mean() / (plain * w).mean())
    assert torch.allclose(weighted, expected, atol=1e-5)


def test_prompt_and_negative_keep_their_lengths_unless_pad_conds(pipeline):
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    long_prompt = ", ".join(["red"] * 50)  # 99 tokens: two chunks
    assert lengths(long_prompt, tokenizer) == [75, 24]
    cond, uncond = encode_prompts(long_prompt, "blurry", tokenizer, encoder)
    assert cond.shape[1] == 154 and uncond.shape[1] == 77  # A1111's default
    padded_cond, padded_uncond = encode_prompts(
        long_prompt, "blurry", tokenizer, encoder, pad_conds=True
    )
    assert padded_cond.shape[1] == padded_uncond.shape[1] == 154
    assert torch.equal(padded_cond, cond)
    empty, _ = encode_prompts("", "", tokenizer, encoder)
    assert torch.equal(padded_uncond, torch.cat([uncond, empty], dim=1))  # the empty prompt's
    # the padding goes on whichever side is shorter
    short_cond, long_uncond = encode_prompts(
        "blurry", long_prompt, tokenizer, encoder, pad_conds=True
    )
    assert short_cond.shape[1] == long_uncond.shape[1] == 154
    assert torch.equal(short_cond[:, 77:], empty)


def test_clip_skip_uses_an_earlier_layer(pipeline):
    one, _ = encode_prompts("a photo", "", pipeline.tokenizer, pipeline.text_encoder, clip_skip=1)
    two, _ = encode_prompts("a photo", "", pipeline.tokenizer, pipeline.text_encoder, clip_skip=2)
    assert one.shape == two.shape
    assert not torch.allclose(one, two)


def test_comfy_emphasis_interpolates_from_the_empty_prompt(pipeline):
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    plain, _ = encode_prompts("a, vsynth, c", "", tokenizer, encoder, emphasis="comfy")
    weighted, _ = encode_prompts("a, (vsynth:1.5), c", "", tokenizer, encoder, emphasis="comfy")
    empty, _ = encode_prompts("", "", tokenizer, encoder)
    ((_, token_weights),) = tokenize_weighted("a, (vsynth:1.5), c", tokenizer)
    w = torch.tensor([1.0] + token_weights + [1.0] * (76 - len(token_weights)))[None, :, None]
    assert torch.allclose(weighted, (plain - empty) * w + empty, atol=1e-5)
    a1111, _ = encode_prompts("a, (vsynth:1.5), c", "", tokenizer, encoder)
    assert not torch.allclose(weighted, a1111)
