import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image
from safetensors import safe_open

from stylesweep.export import export_checkpoint
from stylesweep.sample import GridRenderer, Recipe, make_scheduler
from stylesweep.train import train_segment
from tests.conftest import train_settings

PROMPT = "vsynth, a portrait"


def trained(tiny_model, latents, root, **settings):
    settings = train_settings(**settings)
    checkpoint = root / "run" / "step-2"
    train_segment(
        base_dir=tiny_model, base_hash="tiny", latents_path=latents, settings=settings,
        start_step=0, end_step=2,
        checkpoint_dir=checkpoint, loss_path=root / "loss.csv", run_name="run",
    )  # fmt: skip
    return checkpoint


def ours(tiny_model, checkpoint, tmp_path):
    """The workflow's own rendering of PROMPT with the checkpoint."""
    recipe = Recipe(model="m", model_hash="h", variant="v", prompt=PROMPT, negative="", seed=1,
                    cfg_scale=5.0, sampler="Euler", steps=4, width=64, height=64,
                    clip_skip=1)  # fmt: skip
    renderer = GridRenderer(tiny_model)
    renderer.use_checkpoint(checkpoint)
    renderer.render([recipe], tmp_path / "ours")
    return np.asarray(Image.open(tmp_path / "ours" / recipe.file_name()), dtype=np.int16)


def stock(pipeline):
    pipeline.scheduler = make_scheduler("Euler", pipeline.scheduler.config)
    image = pipeline(PROMPT, guidance_scale=5.0, num_inference_steps=4, width=64, height=64,
                     generator=torch.Generator().manual_seed(1)).images[0]  # fmt: skip
    return np.asarray(image, dtype=np.int16)


def test_textual_inversion_exports_an_a1111_embedding(tiny_model, latents, tmp_path):
    checkpoint = trained(tiny_model, latents, tmp_path, method="textual_inversion",
                         learning_rate=5e-2, num_vectors=2)  # fmt: skip
    path = export_checkpoint(tiny_model, checkpoint, tmp_path / "export", precision=None)
    assert path.name == "vsynth.safetensors"  # A1111 calls an embedding by its file name
    with safe_open(str(path), "pt") as handle:
        assert list(handle.keys()) == ["emb_params"]
        assert handle.get_tensor("emb_params").shape == (2, 64)
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipeline.load_textual_inversion(str(path), token="vsynth")
    assert np.abs(stock(pipeline) - ours(tiny_model, checkpoint, tmp_path)).max() <= 1


def test_lora_exports_kohya_weights_with_training_metadata(tiny_model, latents, tmp_path):
    checkpoint = trained(tiny_model, latents, tmp_path, method="lora", learning_rate=5e-2,
                         lora_rank=4, lora_alpha=8, lora_text_encoder=True)  # fmt: skip
    path = export_checkpoint(tiny_model, checkpoint, tmp_path / "export", precision=None)
    with safe_open(str(path), "pt") as handle:
        keys, metadata = list(handle.keys()), handle.metadata()
        alphas = {handle.get_tensor(k).item() for k in keys if k.endswith(".alpha")}
    assert any(k.startswith("lora_unet_") for k in keys)
    assert any(k.startswith("lora_te1_text_model_") for k in keys)
    assert alphas == {8.0}
    assert metadata["ss_network_dim"] == "4" and metadata["ss_network_alpha"] == "8"
    assert metadata["ss_base_model_version"] == "sd_v1" and metadata["ss_steps"] == "2"
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipeline.load_lora_weights(str(path))
    assert np.abs(stock(pipeline) - ours(tiny_model, checkpoint, tmp_path)).max() <= 1


def test_dreambooth_exports_a_single_file_checkpoint(tiny_model, latents, tmp_path):
    checkpoint = trained(tiny_model, latents, tmp_path, learning_rate=1e-3, text_encoder_steps=1)
    path = export_checkpoint(tiny_model, checkpoint, tmp_path / "export", precision="fp32")
    assert path.name == "run-step2.safetensors"
    with safe_open(str(path), "pt") as handle:
        keys = list(handle.keys())
        assert handle.metadata()["stylesweep_key"] == "vsynth"
    # the original SD 1.5 layout: UNet, VAE and CLIP under their LDM prefixes
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "first_stage_model.decoder.up.0.block.0.conv1.weight" in keys
    assert "cond_stage_model.transformer.text_model.final_layer_norm.weight" in keys
    pipeline = StableDiffusionPipeline.from_single_file(
        str(path), config=str(tiny_model), local_files_only=True
    )
    assert np.abs(stock(pipeline) - ours(tiny_model, checkpoint, tmp_path)).max() <= 1

    half = export_checkpoint(tiny_model, checkpoint, tmp_path / "half", precision="fp16")
    with safe_open(str(half), "pt") as handle:
        assert handle.get_tensor(keys[0]).dtype == torch.float16
    assert half.stat().st_size < 0.6 * path.stat().st_size


def test_lora_without_text_encoder_adapters_exports_unet_keys_only(tiny_model, latents, tmp_path):
    checkpoint = trained(tiny_model, latents, tmp_path, method="lora", learning_rate=5e-2,
                         lora_rank=4, lora_alpha=8, lora_text_encoder=False)  # fmt: skip
    path = export_checkpoint(tiny_model, checkpoint, tmp_path / "export", precision=None)
    with safe_open(str(path), "pt") as handle:
        keys = list(handle.keys())
    assert keys and all(k.startswith("lora_unet_") for k in keys)
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipeline.load_lora_weights(str(path))
    assert np.abs(stock(pipeline) - ours(tiny_model, checkpoint, tmp_path)).max() <= 1
