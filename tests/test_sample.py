import numpy as np
import pytest
from PIL import Image

from stylesweep.sample import Recipe, SamplingError, load_pipeline, render, sample_model


def recipe(seed, cfg=5.0, **changes):
    fields = dict(
        model="base", model_hash="abc", variant="v", prompt="a (vsynth:1.2) portrait",
        negative="blurry", seed=seed, cfg_scale=cfg, sampler="Euler a", steps=4,
        width=64, height=64, clip_skip=1,
    )  # fmt: skip
    return Recipe(**{**fields, **changes})


@pytest.fixture(scope="module")
def pipeline(tiny_model):
    return load_pipeline(tiny_model, None, "cpu")


def pixels(path):
    return np.asarray(Image.open(path), dtype=np.int16)


def test_an_image_is_the_same_alone_or_inside_a_batch(pipeline, tmp_path):
    batch = [recipe(seed) for seed in range(8)]
    assert render(pipeline, batch, tmp_path / "batch", batch_size=8) == 8
    assert render(pipeline, [recipe(5)], tmp_path / "alone", batch_size=8) == 1
    alone = pixels(tmp_path / "alone" / recipe(5).file_name())
    inside = pixels(tmp_path / "batch" / recipe(5).file_name())
    assert np.abs(alone - inside).max() <= 1
    assert np.abs(pixels(tmp_path / "batch" / recipe(4).file_name()) - inside).max() > 1


def test_rendered_images_are_reused_and_carry_their_recipe(pipeline, tmp_path):
    recipes = [recipe(1), recipe(2)]
    assert render(pipeline, recipes, tmp_path) == 2
    assert render(pipeline, recipes + [recipe(3)], tmp_path) == 1
    assert render(pipeline, recipes + [recipe(1, cfg=7.0)], tmp_path) == 1
    parameters = Image.open(tmp_path / recipe(1).file_name()).text["parameters"]
    assert parameters.splitlines()[0] == "a (vsynth:1.2) portrait"
    assert "Negative prompt: blurry" in parameters
    assert "Sampler: Euler a, CFG scale: 5, Seed: 1, Size: 64x64, Model hash: abc" in parameters


def test_sample_model_writes_a_manifest_of_every_image(tiny_model, tmp_path):
    variants = [{"name": "start_w1", "prompt": "vsynth, a portrait", "negative": ""}]
    manifest = sample_model(
        model="base", base_dir=tiny_model, checkpoint_dir=None, variants=variants,
        seeds=[1, 2], cfg_scales=[3, 7], sampler="DPM++ 2M Karras", steps=3, size=64,
        clip_skip=1, batch_size=4, manifest_path=tmp_path / "images.json",
    )  # fmt: skip
    assert manifest["rendered"] == 4 and len(manifest["images"]) == 4
    for image in manifest["images"]:
        assert (tmp_path / image["file"]).is_file()
    with pytest.raises(SamplingError, match="unknown sampler"):
        sample_model(
            model="base", base_dir=tiny_model, checkpoint_dir=None, variants=variants,
            seeds=[1], cfg_scales=[3], sampler="Heun++", steps=3, size=64, clip_skip=1,
            batch_size=4, manifest_path=tmp_path / "x.json",
        )  # fmt: skip
