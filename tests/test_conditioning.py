import pytest
import torch
from diffusers import StableDiffusionPipeline

from stylesweep.conditioning import encode_prompts, tokenize_weighted


@pytest.fixture(scope="module")
def pipeline(tiny_model):
    return StableDiffusionPipeline.from_pretrained(tiny_model)


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


def test_long_prompts_and_break_make_more_chunks_and_negative_is_padded(pipeline):
    long_prompt = ", ".join(["red"] * 50)  # 99 tokens
    assert [len(ids) for ids, _ in tokenize_weighted(long_prompt, pipeline.tokenizer)] == [75, 24]
    assert len(tokenize_weighted("a BREAK b", pipeline.tokenizer)) == 2
    cond, uncond = encode_prompts(long_prompt, "", pipeline.tokenizer, pipeline.text_encoder)
    assert cond.shape[1] == uncond.shape[1] == 154


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
