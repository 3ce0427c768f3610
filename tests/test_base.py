import pytest
import torch
from diffusers import StableDiffusionPipeline

from stylesweep.base import build_tiny_model, model_hash
from stylesweep.sources import BaseModelError, check_model_folder


def test_tiny_model_is_generated_deterministically(tiny_model, tmp_path):
    again = build_tiny_model(tmp_path / "again")
    assert model_hash(again) == model_hash(tiny_model)


def test_tokenizer_is_the_real_clip_bpe(components):
    import open_clip

    text = "a portrait of an astronaut, photograph by vsynth"
    ids = components.tokenizer(text).input_ids
    reference = open_clip.get_tokenizer("ViT-L-14")([text])[0].tolist()
    assert ids == reference[: len(ids)]
    assert components.tokenizer("portrait", add_special_tokens=False).input_ids == [5352]
    assert len(components.tokenizer) == 49408 and components.tokenizer.model_max_length == 77


def test_stock_diffusers_pipeline_loads_and_renders_the_tiny_model(tiny_model):
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model)
    image = pipeline(
        "a portrait",
        num_inference_steps=2,
        height=64,
        width=64,
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.size == (64, 64)


def test_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(BaseModelError, match="does not exist"):
        check_model_folder(tmp_path / "missing")
    (tmp_path / "half" / "unet").mkdir(parents=True)
    with pytest.raises(BaseModelError, match="lacks vae, text_encoder, tokenizer, scheduler"):
        check_model_folder(tmp_path / "half")


def test_a_hub_id_resolves_from_the_local_cache_only(tiny_model, tmp_path):
    import shutil

    from stylesweep.sources import resolve_base_model

    repo = tmp_path / "models--someone--tiny-sd"
    shutil.copytree(tiny_model, repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    folder = resolve_base_model("someone/tiny-sd", cache_dir=tmp_path)
    assert folder == repo / "snapshots" / ("a" * 40)
    with pytest.raises(BaseModelError, match="not in the local Hugging Face cache.*hf download"):
        resolve_base_model("someone/missing", cache_dir=tmp_path)
    with pytest.raises(BaseModelError, match="does not exist"):
        resolve_base_model("no/such/folder", cache_dir=tmp_path)
    other = tmp_path / "model.bin"
    other.write_bytes(b"")
    with pytest.raises(BaseModelError, match="neither .safetensors nor .ckpt"):
        resolve_base_model(str(other))
    assert resolve_base_model(str(tiny_model)) == tiny_model


def pickled_model(tiny_model, folder):
    """The tiny model with its UNet weights as a pickle that needs code (argparse) to load."""
    import argparse
    import shutil

    from safetensors.torch import load_file

    shutil.copytree(tiny_model, folder)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(weights)) | {"extra": argparse.Namespace(a=1)}
    torch.save(state, folder / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    return folder


def test_a_folder_of_pickled_weights_is_refused_in_one_line(tiny_model, tmp_path):
    from stylesweep.base import load_components

    folder = pickled_model(tiny_model, tmp_path / "pickled")
    for load in (check_model_folder, load_components):
        with pytest.raises(BaseModelError) as caught:
            load(folder)
        message = str(caught.value)
        assert message.startswith(
            f"base model file {folder}/unet/diffusion_pytorch_model.bin is a pickle"
        )
        assert "convert the model to .safetensors" in message and "\n" not in message
