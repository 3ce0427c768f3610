"""A damaged checkpoint is named, with the fix, and never silently reused."""

from __future__ import annotations

import shutil

import pytest

from stylesweep.checkpoints import CheckpointError, apply_checkpoint
from stylesweep.sample import sample_models
from stylesweep.train import train_segment

from .conftest import sample_settings, train_settings

VARIANTS = [{"name": "v", "prompt": "vsynth, a portrait", "negative": ""}]


@pytest.fixture(scope="module")
def checkpoint(tiny_model, latents, tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    train_segment(
        base_dir=tiny_model, base_hash="tiny", latents_path=latents,
        settings=train_settings(method="textual_inversion", learning_rate=5e-2),
        start_step=0, end_step=1, checkpoint_dir=root / "step-1",
        loss_path=root / "loss.csv", run_name="ti",
    )  # fmt: skip
    return root / "step-1"


def render(tiny_model, checkpoint, manifest):
    return sample_models(
        models={"ti/step-1": checkpoint}, base_dir=tiny_model, base_hash="tiny",
        variants=VARIANTS, batch_size=4, manifest_path=manifest,
        settings=sample_settings(seeds=[1], cfg_scales=[7], sampler="Euler", steps=2, size=64),
    )  # fmt: skip


def test_a_truncated_checkpoint_is_named_even_when_its_images_exist(
    tiny_model, checkpoint, tmp_path
):
    copy = tmp_path / "step-1"
    shutil.copytree(checkpoint, copy)
    assert render(tiny_model, copy, tmp_path / "images.json")["rendered"] == 1
    weights = copy / "learned_embeds.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match=rf"{weights} is damaged.*delete {copy}"):
        render(tiny_model, copy, tmp_path / "images.json")


def test_a_checkpoint_changed_in_place_is_named_when_loaded(components, checkpoint, tmp_path):
    copy = tmp_path / "step-1"
    shutil.copytree(checkpoint, copy)
    weights = copy / "learned_embeds.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="is damaged"):
        apply_checkpoint(components, copy)
