"""Small file helpers: atomic writes and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    A reader (or a killed job) never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes files private; these are for sharing
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def write_safetensors(
    path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None
) -> Path:
    """safetensors' `save_file`, atomically, and the same tensors always as the same bytes."""
    from safetensors.torch import save_file  # torch is heavy; only writers need it

    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        sort_safetensors_metadata(tmp)
    return Path(path)


def sort_safetensors_metadata(path: str | os.PathLike) -> None:
    """Put a .safetensors file's metadata in sorted order, in place.

    safetensors (Rust) keeps the metadata in a HashMap, whose order is random in each
    process: a file with two or more metadata entries (diffusers' LoRA files, our exports)
    would get different bytes from the same tensors. The rewritten header has the same
    length, so only the header's bytes change.
    """
    with open(path, "r+b") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
        metadata = header.pop("__metadata__", None)
        if not metadata or len(metadata) < 2:
            return
        ordered = {"__metadata__": dict(sorted(metadata.items())), **header}
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > size:  # safetensors writes compact JSON; this would be a new format
            raise RuntimeError(f"{path}: unexpected safetensors header layout")
        handle.seek(8)
        handle.write(text + b" " * (size - len(text)))


def sha256_tree(root: str | os.PathLike, pattern: str = "*.safetensors") -> str:
    """Hash of every file under `root` matching `pattern`, by relative path and content."""
    root = Path(root)
    digest = hashlib.sha256()
    for file in sorted(root.rglob(pattern)):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def publish_tree(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy a finished folder to where it is read, as hard links where the file system
    allows (no second copy of the images), else as copies."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)
