import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from stylesweep.conditioning import encode_prompts
from stylesweep.sample import GridRenderer, Recipe, SamplingError, make_scheduler, sample_models

from .conftest import sample_settings


def recipe(seed, cfg=5.0, **changes):
    fields = dict(
        model="base", model_hash="abc", variant="v", prompt="a (vsynth:1.2) portrait",
        negative="blurry", seed=seed, cfg_scale=cfg, sampler="Euler a", steps=4,
        width=64, height=64, clip_skip=1,
    )  # fmt: skip
    return Recipe(**{**fields, **changes})


@pytest.fixture(scope="module")
def renderer(tiny_model):
    return GridRenderer(tiny_model, "cpu")


def pixels(path):
    return np.asarray(Image.open(path), dtype=np.int16)


def test_an_image_is_the_same_alone_or_inside_a_mixed_batch(renderer, tmp_path):
    # 8 images in one batch: two prompts, two CFG scales, several seeds
    batch = [recipe(seed, cfg=[3.0, 7.0][seed % 2]) for seed in range(6)]
    batch += [recipe(s, variant="w", prompt="vsynth, a portrait", negative="") for s in (6, 7)]
    assert renderer.render(batch, tmp_path / "batch", batch_size=8) == 8
    assert renderer.render([batch[5]], tmp_path / "alone", batch_size=8) == 1
    alone = pixels(tmp_path / "alone" / batch[5].file_name())
    inside = pixels(tmp_path / "batch" / batch[5].file_name())
    assert np.abs(alone - inside).max() <= 1  # within 1/255 per pixel
    assert np.abs(pixels(tmp_path / "batch" / batch[3].file_name()) - inside).max() > 1


@pytest.mark.parametrize("sampler", ["Euler", "Euler a", "DPM++ 2M Karras", "DDIM"])
def test_renders_what_the_stock_pipeline_renders(tiny_model, renderer, tmp_path, sampler):
    wanted = recipe(11, cfg=6.0, sampler=sampler)
    renderer.render([wanted], tmp_path)
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model, safety_checker=None)
    from stylesweep.sample import make_scheduler

    pipeline.scheduler = make_scheduler(sampler, pipeline.scheduler.config)
    cond, uncond = encode_prompts(wanted.prompt, wanted.negative, pipeline.tokenizer,
                                  pipeline.text_encoder)  # fmt: skip
    stock = pipeline(
        prompt_embeds=cond, negative_prompt_embeds=uncond, guidance_scale=6.0,
        num_inference_steps=4, width=64, height=64,
        generator=[torch.Generator().manual_seed(11)],
    ).images[0]  # fmt: skip
    ours = pixels(tmp_path / wanted.file_name())
    assert np.abs(ours - np.asarray(stock, dtype=np.int16)).max() <= 1


def test_adding_a_seed_renders_only_that_seed(renderer, tmp_path):
    grid = [recipe(s, cfg) for s in (1, 2) for cfg in (3.0, 7.0)]
    calls = renderer.unet_calls
    assert renderer.render(grid, tmp_path, batch_size=8) == 4
    assert renderer.unet_calls - calls == 4  # one batch: 4 steps, one UNet call each
    calls = renderer.unet_calls
    assert renderer.render(grid + [recipe(3, 3.0), recipe(3, 7.0)], tmp_path, batch_size=8) == 2
    assert renderer.unet_calls - calls == 4  # the two new images, in one batch
    assert renderer.render(grid, tmp_path) == 0 and renderer.unet_calls - calls == 4


def test_every_png_carries_its_recipe(renderer, tmp_path):
    renderer.render([recipe(1)], tmp_path)
    parameters = Image.open(tmp_path / recipe(1).file_name()).text["parameters"]
    assert parameters.splitlines()[0] == "a (vsynth:1.2) portrait"
    assert "Negative prompt: blurry" in parameters
    assert "Sampler: Euler a, CFG scale: 5, Seed: 1, Size: 64x64, Model hash: abc" in parameters
    assert "RNG: CPU" in parameters  # A1111's name for noise drawn on the CPU


def test_sample_models_writes_a_manifest_of_every_image(tiny_model, tmp_path):
    variants = [{"name": "start_w1", "prompt": "vsynth, a portrait", "negative": ""}]
    settings = dict(
        base_dir=tiny_model, base_hash="tiny", variants=variants, batch_size=4,
    )  # fmt: skip
    grid = dict(seeds=[1, 2], cfg_scales=[3, 7], steps=3, size=64)
    karras = sample_settings(sampler="DPM++ 2M Karras", **grid)
    manifest = sample_models(
        models={"base": None}, settings=karras, manifest_path=tmp_path / "images.json", **settings
    )  # fmt: skip
    assert manifest["rendered"] == 4 and len(manifest["images"]) == 4
    assert manifest["unet_calls"] == 3
    for image in manifest["images"]:
        assert (tmp_path / image["file"]).is_file() and image["model"] == "base"
    again = sample_models(
        models={"base": None}, settings=karras, manifest_path=tmp_path / "images.json", **settings
    )  # fmt: skip
    assert again["rendered"] == 0 and again["reused"] == 4 and again["unet_calls"] == 0
    with pytest.raises(SamplingError, match="unknown sampler"):
        sample_models(models={"base": None}, settings=sample_settings(sampler="Heun++", **grid),
                      manifest_path=tmp_path / "x.json", **settings)  # fmt: skip


def test_a_textual_inversion_checkpoint_renders_its_learned_key(tiny_model, tmp_path):
    import torch as t

    from stylesweep.base import load_components
    from stylesweep.checkpoints import save_checkpoint

    learned = {"vsynth": t.randn(2, 64, generator=t.Generator().manual_seed(0))}
    checkpoint = tmp_path / "ti" / "step-2"
    save_checkpoint(load_components(tiny_model), checkpoint,
                    {"method": "textual_inversion", "tokens": ["vsynth", "vsynth_1"]},
                    learned=learned)  # fmt: skip
    variants = [{"name": "k", "prompt": "(vsynth:1.2), a portrait", "negative": ""}]
    settings = dict(base_dir=tiny_model, base_hash="tiny", variants=variants, batch_size=4,
                    settings=sample_settings(seeds=[1], cfg_scales=[5], sampler="Euler",
                                             steps=3, size=64))  # fmt: skip
    ti = sample_models(models={"ti/step-2": checkpoint}, manifest_path=tmp_path / "ti" / "i.json",
                       **settings)  # fmt: skip
    base = sample_models(models={"base": None}, manifest_path=tmp_path / "base" / "i.json",
                         **settings)  # fmt: skip
    ti_image = pixels(tmp_path / "ti" / ti["images"][0]["file"])
    base_image = pixels(tmp_path / "base" / base["images"][0]["file"])
    assert np.abs(ti_image - base_image).max() > 10

    renderer = GridRenderer(tiny_model)
    renderer.use_checkpoint(checkpoint)
    assert renderer.key_words == ("vsynth", "vsynth vsynth_1")
    ids = renderer.components.tokenizer("vsynth vsynth_1", add_special_tokens=False).input_ids
    assert len(ids) == 2 and min(ids) >= 49408  # two new tokens, one per learned vector


def test_a_learned_key_of_several_vectors_is_read_in_any_case(tiny_model, tmp_path):
    """The tokenizer lowercases prompts, so `vsynth` is the key `VSynth`: every learned
    vector comes with it, not the first alone."""
    import torch as t

    from stylesweep.base import load_components
    from stylesweep.checkpoints import save_checkpoint

    learned = {"VSynth": t.randn(2, 64, generator=t.Generator().manual_seed(0))}
    checkpoint = tmp_path / "ti" / "step-2"
    save_checkpoint(load_components(tiny_model), checkpoint,
                    {"method": "textual_inversion", "tokens": ["VSynth", "VSynth_1"]},
                    learned=learned)  # fmt: skip
    renderer = GridRenderer(tiny_model)
    renderer.use_checkpoint(checkpoint)
    recipes = [Recipe(model="ti", model_hash="x", variant="k", prompt=f"{key}, a portrait",
                      negative="", seed=1, cfg_scale=5, sampler="Euler", steps=3, width=64,
                      height=64, clip_skip=1)
               for key in ("VSynth", "vsynth", "VSYNTH")]  # fmt: skip
    exact, *others = (renderer._embed(recipe)[0] for recipe in recipes)
    assert all(t.equal(exact, other) for other in others)


def lora_checkpoint(tiny_model, folder, seed):
    import torch as t

    from stylesweep.base import load_components
    from stylesweep.checkpoints import save_checkpoint
    from stylesweep.methods import add_lora, lora_layers
    from tests.conftest import train_settings

    settings = train_settings(learning_rate=1.0, seed=seed, method="lora", lora_rank=4,
                              lora_text_encoder=True)  # fmt: skip
    components = load_components(tiny_model)
    add_lora(components, settings)
    with t.no_grad():  # B starts at zero: give the adapters something to say
        for module in (components.unet, components.text_encoder):
            for name, parameter in module.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.5, generator=t.Generator().manual_seed(seed))
    save_checkpoint(components, folder, {"method": "lora"}, lora=lora_layers(components, settings))
    return folder


def test_lora_checkpoints_swap_in_place(tiny_model, tmp_path):
    first = lora_checkpoint(tiny_model, tmp_path / "run" / "step-1", seed=1)
    second = lora_checkpoint(tiny_model, tmp_path / "run" / "step-2", seed=2)
    renderer = GridRenderer(tiny_model)
    images = {}
    for name, checkpoint in (("a", first), ("b", second), ("a_again", first)):
        renderer.use_checkpoint(checkpoint)
        renderer.render([recipe(1, model_hash=name)], tmp_path / name)
        images[name] = pixels(tmp_path / name / recipe(1, model_hash=name).file_name())
    base = GridRenderer(tiny_model)
    base.render([recipe(1)], tmp_path / "base")
    assert np.abs(images["a"] - pixels(tmp_path / "base" / recipe(1).file_name())).max() > 10
    assert np.abs(images["a"] - images["b"]).max() > 10
    assert np.abs(images["a"] - images["a_again"]).max() <= 1


# Two 75-token chunks: the negative prompt "blurry" of recipe() needs one.
LONG = ", ".join(["red"] * 50) + ", a (vsynth:1.2) portrait"


def by_hand(renderer, prompt, negative, seed, cfg, steps=4):
    """A1111 without "Pad conds": the UNet sees each half at its own length, in its own call."""
    c = renderer.components
    cond, uncond = encode_prompts(prompt, negative, c.tokenizer, c.text_encoder)
    assert cond.shape[1] != uncond.shape[1]
    scheduler = make_scheduler("Euler", c.noise_scheduler.config)
    scheduler.set_timesteps(steps)
    shape = (1, c.unet.config.in_channels, 8, 8)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    latents = latents * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.scale_model_input(latents, t)
            noise_uncond = c.unet(x, t, encoder_hidden_states=uncond).sample
            noise_cond = c.unet(x, t, encoder_hidden_states=cond).sample
            noise = noise_uncond + cfg * (noise_cond - noise_uncond)
            latents = scheduler.step(noise, t, latents).prev_sample
        decoded = c.vae.decode(latents / c.vae.config.scaling_factor).sample
    image = renderer.image_processor.postprocess(decoded, output_type="pil")[0]
    return np.asarray(image, dtype=np.int16)


def test_prompt_and_negative_of_different_lengths_run_unpadded_as_in_a1111(renderer, tmp_path):
    wanted = recipe(3, cfg=6.0, sampler="Euler", prompt=LONG)
    calls = renderer.unet_calls
    assert renderer.render([wanted], tmp_path) == 1
    assert renderer.unet_calls - calls == 2 * 4  # two UNet calls a step: one per length
    ours = pixels(tmp_path / wanted.file_name())
    assert np.abs(ours - by_hand(renderer, LONG, "blurry", 3, 6.0)).max() <= 1
    parameters = Image.open(tmp_path / wanted.file_name()).text["parameters"]
    assert "Pad conds" not in parameters and "wrap length" not in parameters


def test_an_unpadded_image_is_the_same_alone_or_inside_a_mixed_batch(renderer, tmp_path):
    batch = [recipe(s, prompt=LONG, cfg=[3.0, 7.0][s % 2]) for s in range(4)]
    batch += [recipe(s) for s in (4, 5)]  # short prompts: batched on their own
    calls = renderer.unet_calls
    assert renderer.render(batch, tmp_path / "batch", batch_size=8) == 6
    assert renderer.unet_calls - calls == 4 * 2 + 4  # the long ones split, the short ones not
    assert renderer.render([batch[3]], tmp_path / "alone") == 1
    alone = pixels(tmp_path / "alone" / batch[3].file_name())
    assert np.abs(alone - pixels(tmp_path / "batch" / batch[3].file_name())).max() <= 1


def test_pad_conds_pads_with_the_empty_prompt_and_says_so(renderer, tmp_path):
    def render(**changes):
        wanted = recipe(2, **{"prompt": LONG, **changes})
        renderer.render([wanted], tmp_path)
        path = tmp_path / wanted.file_name()
        return pixels(path), Image.open(path).text["parameters"]

    plain, plain_text = render()
    padded, padded_text = render(pad_conds=True)
    # the negative "blurry" padded with an empty chunk is another negative: another image
    assert np.abs(padded - plain).max() > 1
    assert "Pad conds: True" in padded_text.splitlines()[-1]
    assert "Pad conds" not in plain_text
    # an empty negative padded with empty chunks attends to copies of itself: the same image
    empty_plain, _ = render(negative="")
    empty_padded, empty_padded_text = render(negative="", pad_conds=True)
    assert np.abs(empty_padded - empty_plain).max() <= 1
    assert "Pad conds: True" in empty_padded_text
    # nothing to pad when both fit one chunk: A1111 writes nothing then
    _, short_text = render(prompt="a portrait", pad_conds=True)
    assert "Pad conds" not in short_text


def test_sample_models_passes_wrap_length_and_pad_conds_to_every_image(tiny_model, tmp_path):
    # 92 tokens, last comma at token 58: chunks of 59 + 33 tokens, or 75 + 17 unwrapped
    prompt = " ".join("," if i in (10, 58) else "red" for i in range(92))
    variants = [{"name": "long", "prompt": prompt, "negative": "blurry"}]
    settings = dict(models={"base": None}, base_dir=tiny_model, base_hash="tiny",
                    variants=variants, batch_size=4)  # fmt: skip
    images = {}
    for wrap_length in (20, 0):
        grid = sample_settings(
            seeds=[1],
            cfg_scales=[5],
            sampler="Euler",
            steps=2,
            size=64,
            wrap_length=wrap_length,
            pad_conds=True,
        )
        manifest = sample_models(manifest_path=tmp_path / f"w{wrap_length}" / "images.json",
                                 settings=grid, **settings)  # fmt: skip
        path = tmp_path / f"w{wrap_length}" / manifest["images"][0]["file"]
        images[wrap_length] = pixels(path)
        parameters = Image.open(path).text["parameters"].splitlines()[-1]
        assert "Pad conds: True" in parameters
        assert ("Prompt word wrap length limit: 0" in parameters) == (wrap_length == 0)
    assert np.abs(images[20] - images[0]).max() > 1  # the wrap moves 16 tokens: a new image
