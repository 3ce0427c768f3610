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
