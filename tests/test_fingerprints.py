"""The cross-machine fingerprints (tests/fingerprints.py): within the tolerances they pass,
beyond them they fail, for every kind of file a stage writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from .fingerprints import PIXEL_LEVELS, file_key, summarise, worst


def summary_of(tmp_path, name: str, write) -> dict:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    return summarise([path], tmp_path)


def picture(pixels: np.ndarray):
    return lambda path: Image.fromarray(pixels).save(path)


@pytest.fixture
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(20, 230, (64, 64, 3), dtype=np.uint8)


def test_a_picture_passes_within_the_pixel_tolerance_and_fails_beyond(tmp_path, pixels):
    reference = summary_of(tmp_path / "a", "x.png", picture(pixels))
    noisy = pixels.astype(int) + np.random.default_rng(1).integers(-1, 2, pixels.shape)
    assert (
        worst(summary_of(tmp_path / "b", "x.png", picture(noisy.astype(np.uint8))), reference)[0]
        <= 1
    )
    moved = pixels.copy()
    moved[:8, :8] += np.uint8(PIXEL_LEVELS + 1)  # one block of 64 moved by 3 levels
    distance, where = worst(summary_of(tmp_path / "c", "x.png", picture(moved)), reference)
    assert distance > 1 and "x.png" in where
    assert (
        worst(summary_of(tmp_path / "d", "x.png", picture(pixels[:32])), reference)[0] == math.inf
    )


def test_tensors_pass_at_float_noise_and_fail_on_a_change(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "a.weight": rng.normal(0, 0.05, (32, 16)).astype(np.float32),
        "b.bias": np.zeros(16, np.float32),
    }
    reference = summary_of(tmp_path / "a", "w.safetensors", lambda p: save_file(tensors, str(p)))
    noise = {
        k: v * (1 + 1e-5 * rng.standard_normal(v.shape)).astype(np.float32) + 1e-8
        for k, v in tensors.items()
    }
    assert (
        worst(
            summary_of(tmp_path / "b", "w.safetensors", lambda p: save_file(noise, str(p))),
            reference,
        )[0]
        <= 1
    )
    changed = {**tensors, "a.weight": tensors["a.weight"] * 1.02}
    assert (
        worst(
            summary_of(tmp_path / "c", "w.safetensors", lambda p: save_file(changed, str(p))),
            reference,
        )[0]
        > 1
    )
    renamed = {"a.weight": tensors["a.weight"], "c.bias": tensors["b.bias"]}
    distance, where = worst(
        summary_of(tmp_path / "d", "w.safetensors", lambda p: save_file(renamed, str(p))), reference
    )
    assert distance == math.inf and "names, shapes or dtypes" in where
    half = {k: v.astype(np.float16) for k, v in tensors.items()}
    assert (
        worst(
            summary_of(tmp_path / "e", "w.safetensors", lambda p: save_file(half, str(p))),
            reference,
        )[0]
        == math.inf
    )


def test_json_floats_have_a_tolerance_and_everything_else_must_match(tmp_path):
    value = {"score": 0.5, "steps": 3, "name": "te~0.1", "seconds": 1.0, "list": [0.25, "a"]}

    def record(data):
        return summary_of(
            tmp_path / str(len(list(tmp_path.iterdir()))),
            "s.json",
            lambda p: p.write_text(json.dumps(data)),
        )

    reference = record(value)
    assert worst(record({**value, "score": 0.5003, "seconds": 99.0}), reference)[0] <= 1
    assert worst(record({**value, "score": 0.51}), reference)[0] > 1
    assert worst(record({**value, "steps": 4}), reference)[0] == math.inf
    assert worst(record({**value, "name": "te~0.2"}), reference)[0] == math.inf
    assert worst(record({**value, "list": [0.25]}), reference)[0] == math.inf
    assert worst(record({**value, "extra": 1}), reference)[0] == math.inf


def test_names_are_matched_without_their_hashes(tmp_path):
    path = tmp_path / "samples" / "start" / "seed1_cfg7_0123456789abcdef0123.png"
    assert file_key(path, tmp_path) == "samples/start/seed1_cfg7_#.png"
    other = "samples/start/seed1_cfg7_fedcba9876543210fedc.png"
    assert file_key(tmp_path / other, tmp_path) == file_key(path, tmp_path)


def test_other_files_are_compared_by_their_bytes(tmp_path):
    reference = summary_of(tmp_path / "a", "c.txt", lambda p: p.write_text("a portrait"))
    assert (
        worst(summary_of(tmp_path / "b", "c.txt", lambda p: p.write_text("a portrait")), reference)[
            0
        ]
        == 0
    )
    assert (
        worst(
            summary_of(tmp_path / "c", "c.txt", lambda p: p.write_text("a portrait.")), reference
        )[0]
        == math.inf
    )
