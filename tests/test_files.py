"""The same tensors and metadata are written as the same .safetensors bytes."""

from __future__ import annotations

import json
import struct

import torch
from safetensors.torch import load_file, safe_open

from stylesweep.files import sort_safetensors_metadata, write_safetensors

TENSORS = {"b": torch.arange(6.0).reshape(2, 3), "a": torch.ones(4, dtype=torch.float16)}
METADATA = {f"key_{i:02d}": f"value {i}" for i in range(20)} | {"format": "pt"}


def with_metadata_order(path, keys: list[str]) -> bytes:
    """The file's bytes with its metadata entries rewritten in the order `keys`."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    header["__metadata__"] = {key: header["__metadata__"][key] for key in keys}
    text = json.dumps(header, separators=(",", ":")).encode()
    return raw[:8] + text + b" " * (size - len(text)) + raw[8 + size :]


def test_metadata_order_does_not_change_the_bytes(tmp_path):
    path = write_safetensors(tmp_path / "first.safetensors", TENSORS, METADATA)
    shuffled = tmp_path / "shuffled.safetensors"
    shuffled.write_bytes(with_metadata_order(path, sorted(METADATA, reverse=True)))
    assert shuffled.read_bytes() != path.read_bytes()

    sort_safetensors_metadata(shuffled)

    assert shuffled.read_bytes() == path.read_bytes()
    loaded = load_file(str(shuffled))
    assert all(torch.equal(loaded[name], tensor) for name, tensor in TENSORS.items())
    with safe_open(str(shuffled), "pt") as handle:
        assert handle.metadata() == METADATA


def test_a_file_without_metadata_is_left_alone(tmp_path):
    path = write_safetensors(tmp_path / "plain.safetensors", TENSORS)
    before = path.read_bytes()
    sort_safetensors_metadata(path)
    assert path.read_bytes() == before
