"""Small file helpers: atomic writes and content hashes."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# How a failed write says the disk is full: the OS's errno, safetensors' (Rust) message, and
# torch.save's zip writer, which reports a short write only as "unexpected pos".
NO_SPACE_SIGNS = ("No space left on device", "StorageFull", "os error 28")
TORCH_WRITE_SIGNS = ("inline_container.cc", "PytorchStreamWriter failed")


class NoSpaceError(OSError):
    """A write that failed because the disk is full, named with its path and the fix."""


def is_out_of_space(error: BaseException) -> bool:
    """Whether `error`, raised while writing, means the disk (or quota) is full."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    if isinstance(error, RuntimeError) and any(sign in text for sign in TORCH_WRITE_SIGNS):
        return True
    return any(sign in text for sign in NO_SPACE_SIGNS)


@contextlib.contextmanager
def naming_full_disk(path: str | os.PathLike) -> Iterator[None]:
    """Turn a write failure for lack of space in the block into one line naming `path`."""
    try:
        yield
    except NoSpaceError:
        raise
    except Exception as error:
        if not is_out_of_space(error):
            raise
        folder = Path(path).parent
        full = NoSpaceError(
            f"no space left on device while writing {path}: free space under {folder} and rerun"
        )
        full.errno = errno.ENOSPC
        raise full from error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    A reader (or a killed job) never sees a half-written file. The file gets ordinary
    permissions (0666 less the umask) whatever made it: mkstemp, and safetensors' own
    writer, make files private.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with naming_full_disk(path):
            yield tmp_path
            os.chmod(tmp_path, shared_mode())
            os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def shared_mode() -> int:
    """The mode of a file made the ordinary way (open): 0666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def share_files(root: str | os.PathLike) -> None:
    """Give every file under `root` ordinary permissions, for folders that a library's
    save_pretrained wrote (its safetensors files are private, 0600)."""
    mode = shared_mode()
    for file in Path(root).rglob("*"):
        if file.is_file() and not file.is_symlink():
            os.chmod(file, mode)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(data, indent=indent, sort_keys=False) + "\n")


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


class DamagedFileError(ValueError):
    """A file the workflow wrote that cannot be read back (truncated by a full disk, a kill
    outside the atomic writers, or a copy that stopped short)."""


REMAKE = "delete it and rerun snakemake, which writes it again"


def read_safetensors(
    path: str | os.PathLike, fix: str = REMAKE
) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors and metadata of a .safetensors file; a damaged one is named, with `fix`.

    safetensors' own error ("incomplete metadata, file not fully covered") names neither.
    """
    from safetensors import safe_open  # torch is heavy; only readers of tensors need it
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {fix}")
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except Exception as error:  # safetensors raises its own error types
        raise DamagedFileError(
            f"{path} is truncated or damaged ({str(error).splitlines()[0]}): {fix}"
        ) from error


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


def publish_tree(
    source: str | os.PathLike, target: str | os.PathLike, marker: str | None = None
) -> None:
    """Put a copy of the finished folder `source` at `target`, whole or not at all.

    The copy is made beside `target` (as hard links where the file system allows, so no
    second copy of the images; else as copies) and swapped in by renaming, so `target` holds
    the old tree until the swap and the new one after it: a job killed at any point leaves
    the last good one in place. `marker` names an empty file written into the copy before the
    swap, for a rule to declare as its output: Snakemake deletes a job's declared outputs when
    the job starts, so the folder itself cannot be one.
    """
    source, target = Path(source), Path(target)
    staging = target.with_name(f".{target.name}.new")
    retired = target.with_name(f".{target.name}.old")
    if retired.exists() and not target.exists():  # killed between the two renames below
        retired.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)  # a copy that a killed job left unfinished

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, staging, copy_function=link_or_copy)
    if marker is not None:
        (staging / marker).write_text("")
    if target.exists() and exchange(staging, target):
        shutil.rmtree(staging)  # the old tree, now
        return
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux's renameat2 with RENAME_EXCHANGE); False
    where the system or file system cannot, for the caller to rename in two steps."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    path, fd = ctypes.c_char_p, ctypes.c_int
    renameat2.argtypes = [fd, path, fd, path, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange):
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            return False
        raise OSError(code, os.strerror(code), str(second))
    return True
