"""Single-file SD 1.5 checkpoints: the key layout both ways, and bad files."""

import pytest
import torch
from safetensors.torch import save_file

from stylesweep.base import Components, load_components, sd15_components
from stylesweep.single_file import (
    convert_single_file,
    original_layout,
    read_state_dict,
    save_single_file,
)
from stylesweep.sources import BaseModelError

# Names from Stable Diffusion 1.5's own single file (v1-5-pruned-emaonly.safetensors), one or
# two from every kind of block: an error in the mapping moves or drops one of them.
REAL_SD15_KEYS = {
    "model.diffusion_model.time_embed.0.weight": (1280, 320),
    "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
    "model.diffusion_model.input_blocks.1.1.proj_in.weight": (320, 320, 1, 1),
    "model.diffusion_model.input_blocks.3.0.op.weight": (320, 320, 3, 3),
    "model.diffusion_model.input_blocks.4.0.skip_connection.weight": (640, 320, 1, 1),
    "model.diffusion_model.input_blocks.4.0.emb_layers.1.weight": (640, 1280),
    "model.diffusion_model.input_blocks.11.0.out_layers.3.weight": (1280, 1280, 3, 3),
    "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight": (1280, 768),
    "model.diffusion_model.middle_block.2.in_layers.2.weight": (1280, 1280, 3, 3),
    "model.diffusion_model.output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
    "model.diffusion_model.output_blocks.5.2.conv.weight": (1280, 1280, 3, 3),
    "model.diffusion_model.output_blocks.8.2.conv.weight": (640, 640, 3, 3),
    "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.ff.net.2.weight": (320, 1280),
    "model.diffusion_model.out.2.weight": (4, 320, 3, 3),
    "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight": (256, 128, 1, 1),
    "first_stage_model.encoder.down.1.downsample.conv.weight": (256, 256, 3, 3),
    "first_stage_model.encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
    "first_stage_model.encoder.norm_out.weight": (512,),
    "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight": (128, 256, 1, 1),
    "first_stage_model.decoder.up.3.upsample.conv.weight": (512, 512, 3, 3),
    "first_stage_model.decoder.mid.block_2.conv1.weight": (512, 512, 3, 3),
    "first_stage_model.quant_conv.weight": (8, 8, 1, 1),
    "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (49408, 768),
    "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight": (768, 3072),
    "cond_stage_model.transformer.text_model.final_layer_norm.bias": (768,),
}


def test_sd15_sized_model_takes_the_real_single_file_names():
    with torch.device("meta"):  # shapes without memory
        unet, vae, text_encoder = sd15_components()
    layout = original_layout(Components(unet, vae, text_encoder, None, None))
    assert len(layout) == 686 + 248 + 196  # UNet, VAE, CLIP text encoder
    for key, shape in REAL_SD15_KEYS.items():
        assert tuple(layout[key].shape) == shape, key


def test_tiny_model_round_trips_exactly(components, tiny_model, tmp_path):
    path = save_single_file(components, tmp_path / "tiny.safetensors", dtype="fp32")
    back = load_components(convert_single_file(path, tmp_path / "back", configs=tiny_model))
    for part in ("unet", "vae", "text_encoder"):
        ours, theirs = getattr(components, part).state_dict(), getattr(back, part).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), part


def test_a_plain_ckpt_converts_and_a_code_pickle_is_refused(components, tiny_model, tmp_path):
    tensors = {k: v.contiguous() for k, v in original_layout(components).items()}
    torch.save({"state_dict": tensors}, tmp_path / "plain.ckpt")
    back = load_components(convert_single_file(tmp_path / "plain.ckpt", tmp_path / "b", tiny_model))
    assert torch.equal(back.unet.conv_in.weight, components.unet.conv_in.weight)

    torch.save({"state_dict": tensors, "callback": Exception("runs on load")}, tmp_path / "x.ckpt")
    with pytest.raises(BaseModelError, match="legacy pickle.*refuses it"):
        read_state_dict(tmp_path / "x.ckpt")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["conditioner.embedders.1.model.ln_final.weight"], "looks like Stable Diffusion XL"),
        (["cond_stage_model.model.ln_final.weight"], "looks like Stable Diffusion 2.x"),
        (["model.diffusion_model.out.2.weight"], "has no VAE, text encoder weights"),
    ],
)
def test_a_single_file_of_another_family_is_named(tmp_path, keys, message):
    save_file({key: torch.zeros(1) for key in keys}, str(tmp_path / "m.safetensors"))
    with pytest.raises(BaseModelError, match=message):
        convert_single_file(tmp_path / "m.safetensors", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_shapes_and_unreadable_files_are_clear_errors(components, tmp_path):
    tiny = save_single_file(components, tmp_path / "tiny.safetensors")
    with pytest.raises(BaseModelError, match="does not fit Stable Diffusion 1.5's shapes"):
        convert_single_file(tiny, tmp_path / "out")  # tiny weights, SD 1.5 configs
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(BaseModelError, match="not a readable .safetensors file"):
        read_state_dict(tmp_path / "junk.safetensors")
    with pytest.raises(BaseModelError, match="does not exist"):
        read_state_dict(tmp_path / "missing.ckpt")
