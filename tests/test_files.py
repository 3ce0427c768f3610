"""Atomic writes: the same tensors as the same .safetensors bytes, ordinary permissions, a
full disk named with the file."""

from __future__ import annotations

import errno
import json
import os
import stat
import struct

import pytest
import torch
from safetensors.torch import load_file, safe_open

from stylesweep import files
from stylesweep.files import (
    DamagedFileError,
    NoSpaceError,
    atomic_path,
    publish_tree,
    read_safetensors,
    share_files,
    sort_safetensors_metadata,
    write_json,
    write_safetensors,
)

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


def test_written_files_get_the_umasks_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_safetensors(tmp_path / "latents.safetensors", TENSORS)
        text = tmp_path / "manifest.json"
        write_json(text, {"a": 1})
        share_files_dir = tmp_path / "saved"
        share_files_dir.mkdir()
        private = share_files_dir / "model.safetensors"
        private.write_bytes(b"x")
        private.chmod(0o600)
        share_files(share_files_dir)
    finally:
        os.umask(old)
    for file in (path, text, private):
        assert stat.S_IMODE(file.stat().st_mode) == 0o640, file


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 1088 vs 1024"),
        Exception(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No '
            'space left on device" })'
        ),
    ],
)
def test_a_full_disk_is_named_with_the_path(tmp_path, failure):
    target = tmp_path / "run" / "state.pt"

    with pytest.raises(NoSpaceError) as caught, atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise failure

    message = str(caught.value)
    assert message == (
        f"no space left on device while writing {target}: free space under {target.parent} "
        "and rerun"
    )
    assert "\n" not in message
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_torch_save_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch.serialization, "_save", full)
    target = tmp_path / "state.pt"
    expected = f"while writing {target}: free space under"
    with pytest.raises(NoSpaceError, match=expected), atomic_path(target) as tmp:
        torch.save({"a": torch.zeros(2)}, tmp)


def test_other_write_errors_pass_through(tmp_path):
    with pytest.raises(ValueError, match="bad tensor"), atomic_path(tmp_path / "x") as tmp:
        tmp.write_bytes(b"")
        raise ValueError("bad tensor")


@pytest.mark.parametrize("keep", [0, 5, 100, -10])
def test_a_truncated_safetensors_file_is_named_with_the_fix(tmp_path, keep):
    path = write_safetensors(tmp_path / "latents.safetensors", TENSORS, METADATA)
    assert read_safetensors(path)[1] == METADATA
    path.write_bytes(path.read_bytes()[:keep])

    with pytest.raises(DamagedFileError) as caught:
        read_safetensors(path)

    message = str(caught.value)
    assert message.startswith(f"{path} is truncated or damaged (")
    assert message.endswith("delete it and rerun snakemake, which writes it again")
    assert "\n" not in message


def make_report(folder, text: str):
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.webp").write_text(text)
    (folder / "index.html").write_text(text)
    return folder


def test_a_kill_while_publishing_leaves_the_last_good_report(tmp_path, monkeypatch):
    target = tmp_path / "results" / "report"
    publish_tree(make_report(tmp_path / "v1", "v1"), target, marker=".published")
    assert (target / ".published").is_file()
    (target / ".published").unlink()  # what Snakemake does to a job's output when it starts
    new = make_report(tmp_path / "v2", "v2")

    def killed(src, dst):
        raise KeyboardInterrupt  # stands in for SIGKILL: the job stops mid-copy

    with monkeypatch.context() as patch:
        patch.setattr(os, "link", killed)
        with pytest.raises(KeyboardInterrupt):
            publish_tree(new, target, marker=".published")
    assert (target / "index.html").read_text() == "v1"
    assert (target / "images" / "a.webp").read_text() == "v1"

    publish_tree(new, target, marker=".published")  # the rerun
    assert (target / "index.html").read_text() == "v2" and (target / ".published").is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report"]
    assert (tmp_path / "v2" / "index.html").read_text() == "v2"  # the draft is kept


@pytest.mark.parametrize("atomic_swap", [True, False])
def test_publishing_swaps_the_whole_folder(tmp_path, monkeypatch, atomic_swap):
    target = tmp_path / "report"
    publish_tree(make_report(tmp_path / "v1", "v1"), target)
    (target / "stale.png").write_text("from v1 only")
    if not atomic_swap:  # a system without renameat2: two renames
        monkeypatch.setattr(files, "exchange", lambda first, second: False)
    publish_tree(make_report(tmp_path / "v2", "v2"), target)
    assert sorted(p.name for p in target.iterdir()) == ["images", "index.html"]
    assert (target / "index.html").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "v1", "v2"]


def test_a_kill_between_the_two_renames_is_repaired_by_the_rerun(tmp_path):
    target = tmp_path / "report"
    make_report(tmp_path / ".report.old", "v1")  # the old report, moved aside; no target
    make_report(tmp_path / ".report.new", "v2-half")
    publish_tree(make_report(tmp_path / "v2", "v2"), target)
    assert (target / "index.html").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "v2"]
