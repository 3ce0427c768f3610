from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The built-in tiny model, built once per test session."""
    from stylesweep.base import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("base") / "model")


@pytest.fixture(scope="session")
def components(tiny_model):
    from stylesweep.base import load_components

    return load_components(tiny_model)


@pytest.fixture(scope="session")
def latents(tiny_model, tmp_path_factory) -> Path:
    """Three demo stills encoded by the tiny model's VAE, as the train stage reads them."""
    from stylesweep.dataset import prepare_dataset
    from stylesweep.demo import write_demo_stills
    from stylesweep.train import encode_dataset

    root = tmp_path_factory.mktemp("train")
    write_demo_stills(root / "stills", count=3, size=64)
    prepare_dataset(root / "stills", root / "dataset", resolution=64, crop="center")
    encode_dataset(tiny_model, root / "dataset", root / "latents.safetensors")
    return root / "latents.safetensors"
