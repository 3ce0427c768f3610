import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from stylesweep.conditioning import encode_prompts
from stylesweep.sample import GridRenderer, Recipe, SamplingError, sample_models


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


def test_sample_models_writes_a_manifest_of_every_image(tiny_model, tmp_path):
    variants = [{"name": "start_w1", "prompt": "vsynth, a portrait", "negative": ""}]
    settings = dict(
        base_dir=tiny_model, variants=variants, seeds=[1, 2], cfg_scales=[3, 7], steps=3,
        size=64, clip_skip=1, batch_size=4,
    )  # fmt: skip
    manifest = sample_models(
        models={"base": None}, sampler="DPM++ 2M Karras", manifest_path=tmp_path / "images.json",
        **settings,
    )  # fmt: skip
    assert manifest["rendered"] == 4 and len(manifest["images"]) == 4
    assert manifest["unet_calls"] == 3
    for image in manifest["images"]:
        assert (tmp_path / image["file"]).is_file() and image["model"] == "base"
    again = sample_models(
        models={"base": None}, sampler="DPM++ 2M Karras", manifest_path=tmp_path / "images.json",
        **settings,
    )  # fmt: skip
    assert again["rendered"] == 0 and again["reused"] == 4 and again["unet_calls"] == 0
    with pytest.raises(SamplingError, match="unknown sampler"):
        sample_models(models={"base": None}, sampler="Heun++", manifest_path=tmp_path / "x.json",
                      **settings)  # fmt: skip


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
    settings = dict(base_dir=tiny_model, variants=variants, seeds=[1], cfg_scales=[5],
                    sampler="Euler", steps=3, size=64, clip_skip=1, batch_size=4)  # fmt: skip
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


def lora_checkpoint(tiny_model, folder, seed):
    import torch as t

    from stylesweep.base import load_components
    from stylesweep.checkpoints import save_checkpoint
    from stylesweep.train import TrainSettings, add_lora, lora_layers

    settings = TrainSettings(key="vsynth", instance_prompt="{key}", learning_rate=1.0,
                             batch_size=1, seed=seed, method="lora", lora_rank=4,
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
