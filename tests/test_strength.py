"""Strength at inference (stylesweep.strength): 0 is the base model, 1 the checkpoint."""

import numpy as np
import pytest
import torch
from sd_parsers import ParserManager

from stylesweep.base import load_components
from stylesweep.checkpoints import save_checkpoint
from stylesweep.sample import GridRenderer, sample_models
from stylesweep.sweep import model_label, model_labels, run_and_step, split_label
from tests.test_sample import lora_checkpoint, pixels, recipe

from .conftest import sample_settings


def dreambooth_checkpoint(tiny_model, folder):
    """The tiny model with every UNet and text-encoder weight moved a little."""
    components = load_components(tiny_model)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in (components.unet, components.text_encoder):
            for parameter in module.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    save_checkpoint(components, folder, {"method": "dreambooth"})
    return folder


def textual_inversion_checkpoint(tiny_model, folder, vectors):
    save_checkpoint(
        load_components(tiny_model),
        folder,
        {"method": "textual_inversion", "tokens": ["vsynth", "vsynth_1"],
         "settings": {"init_word": "art"}},
        learned={"vsynth": vectors},
    )  # fmt: skip
    return folder


def render(tiny_model, tmp_path, checkpoint, strength, name, keep_base=False):
    renderer = GridRenderer(tiny_model, keep_base=keep_base)
    if checkpoint is not None:
        renderer.use_checkpoint(checkpoint, strength)
    wanted = recipe(5, strength=strength, prompt="vsynth, a portrait")
    renderer.render([wanted], tmp_path / name)
    return pixels(tmp_path / name / wanted.file_name())


@pytest.mark.parametrize("method", ["dreambooth", "lora"])
def test_strength_0_is_the_base_model_and_1_the_checkpoint(tiny_model, tmp_path, method):
    folder = tmp_path / "run" / "step-1"
    if method == "dreambooth":
        checkpoint = dreambooth_checkpoint(tiny_model, folder)
    else:
        checkpoint = lora_checkpoint(tiny_model, folder, seed=1)
    base = render(tiny_model, tmp_path, None, None, "base")
    trained = render(tiny_model, tmp_path, checkpoint, 1.0, "one")
    assert np.abs(trained - base).max() > 10  # the checkpoint moves the picture
    zero = render(tiny_model, tmp_path, checkpoint, 0.0, "zero", keep_base=True)
    assert np.abs(zero - base).max() <= 1  # within 1/255
    one = render(tiny_model, tmp_path, checkpoint, 1.0, "one_kept", keep_base=True)
    assert np.array_equal(one, trained)
    half = render(tiny_model, tmp_path, checkpoint, 0.5, "half", keep_base=True)
    assert np.abs(half - base).max() > 1 and np.abs(half - trained).max() > 1


def test_a_textual_inversion_key_at_strength_0_is_its_init_words_vector(tiny_model, tmp_path):
    components = load_components(tiny_model)
    init_id = components.tokenizer("art", add_special_tokens=False).input_ids[0]
    init = components.text_encoder.get_input_embeddings().weight[init_id].detach()
    learned = torch.randn(2, init.shape[0], generator=torch.Generator().manual_seed(0))
    trained = textual_inversion_checkpoint(tiny_model, tmp_path / "ti" / "step-1", learned)
    at_init = textual_inversion_checkpoint(
        tiny_model, tmp_path / "init" / "step-1", init.repeat(2, 1).clone()
    )
    expected = render(tiny_model, tmp_path, at_init, 1.0, "init")
    zero = render(tiny_model, tmp_path, trained, 0.0, "zero")
    assert np.abs(zero - expected).max() <= 1
    one = render(tiny_model, tmp_path, trained, 1.0, "one")
    assert np.abs(one - expected).max() > 10


def test_model_labels_name_a_checkpoint_at_a_strength():
    assert model_label("lora/step-20", 0.5) == "lora/step-20@0.5"
    assert model_label("lora/step-20", 1.0) == "lora/step-20"
    assert split_label("lora/step-20@0.5") == ("lora/step-20", 0.5)
    assert split_label("lora/step-20") == ("lora/step-20", 1.0)
    assert split_label("base") == ("base", None)
    assert run_and_step("te~0.1/step-40@1.5") == ("te~0.1", 40)
    labels = model_labels(["base", "a/step-1"], [0.5, 1.0])
    assert labels == ["base", "a/step-1@0.5", "a/step-1"]


def test_adding_a_strength_renders_only_its_images_and_a_lora_png_names_it(tiny_model, tmp_path):
    checkpoint = lora_checkpoint(tiny_model, tmp_path / "samples" / "lora" / "step-1", seed=1)
    variants = [{"name": "k", "prompt": "vsynth, a portrait", "negative": ""}]
    settings = dict(models={"lora/step-1": checkpoint}, base_dir=tiny_model, base_hash="tiny",
                    variants=variants, batch_size=4,
                    manifest_path=tmp_path / "out" / "images.json")  # fmt: skip
    grid = dict(seeds=[1, 2], cfg_scales=[5], sampler="Euler", steps=3, size=64)
    first = sample_models(settings=sample_settings(strengths=[1.0], **grid), **settings)
    assert first["rendered"] == 2
    second = sample_models(settings=sample_settings(strengths=[0.5, 1.0], **grid), **settings)
    assert (second["rendered"], second["reused"]) == (2, 2)
    assert second["models"] == ["lora/step-1@0.5", "lora/step-1"]
    half = [im for im in second["images"] if im["strength"] == 0.5]
    assert {im["model"] for im in half} == {"lora/step-1@0.5"}
    assert {im["checkpoint"] for im in half} == {"lora/step-1"}
    parsed = ParserManager().parse(tmp_path / "out" / half[0]["file"])
    prompt = parsed.prompts[0].value
    assert prompt == "vsynth, a portrait <lora:lora-step1:0.5>"
    whole = [im for im in second["images"] if im["strength"] == 1.0][0]
    assert (
        "<lora:lora-step1:1>"
        in ParserManager().parse(tmp_path / "out" / whole["file"]).prompts[0].value
    )


def test_a_dreambooth_png_names_its_strength(tiny_model, tmp_path):
    checkpoint = dreambooth_checkpoint(tiny_model, tmp_path / "db" / "step-1")
    variants = [{"name": "k", "prompt": "vsynth, a portrait", "negative": ""}]
    made = sample_models(models={"db/step-1": checkpoint}, base_dir=tiny_model, base_hash="t",
                         variants=variants, batch_size=4,
                         settings=sample_settings(seeds=[1], cfg_scales=[5], sampler="Euler",
                                                  steps=2, size=64, strengths=[0.25]),
                         manifest_path=tmp_path / "out" / "images.json")  # fmt: skip
    parsed = ParserManager().parse(tmp_path / "out" / made["images"][0]["file"])
    assert parsed.metadata["Strength"] == "0.25"
    assert made["images"][0]["file"].startswith("step-1@0.25/")
