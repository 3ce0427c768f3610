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
