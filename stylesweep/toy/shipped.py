"""The shipped `builtin:toy` weights: their manifest, and checking files against it.

Standard library only (and stylesweep.files), so that the workflow can check the shipped
files in a job that has not imported torch yet.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from stylesweep.files import sha256_file
from stylesweep.toy.configs import MAX_MEGABYTES, SHIPPED

MANIFEST = "manifest.json"
MODEL_FOLDER = "model"  # the SD model, diffusers layout
CLIP_FOLDER = "clip"  # the CLIP, open_clip's local-dir layout
SCORER_FOLDER = "scorer"  # the style-and-content scorer (stylesweep.style_content)


class ShippedWeightsError(RuntimeError):
    """The shipped toy weights are missing or are not the files their manifest lists."""


def weights_bytes(folder: str | Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*.safetensors"))


def verify(folder: str | Path, part: str | None = None) -> list[str]:
    """What is wrong with a trained folder (or with its `part`, a subfolder such as
    SCORER_FOLDER): files missing, changed or unlisted, or too big."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return [f"{manifest_path}: missing"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems = []
    for name, digest in manifest["files"].items():
        if part is not None and not name.startswith(f"{part}/"):
            continue
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{path}: its sha256 is not the manifest's")
    for path in sorted((folder / (part or "")).rglob("*.safetensors")):
        if path.relative_to(folder).as_posix() not in manifest["files"]:
            problems.append(f"{path}: not in the manifest")
    if weights_bytes(folder) > MAX_MEGABYTES * 1e6:
        problems.append(f"weights weigh {weights_bytes(folder) / 1e6:.1f} MB, over {MAX_MEGABYTES}")
    return problems


def checked(folder: str | Path = SHIPPED, part: str | None = None) -> Path:
    """`folder` if every file (of `part`) matches its manifest; otherwise one error naming
    the files."""
    problems = verify(folder, part)
    if problems:
        raise ShippedWeightsError(
            "the builtin:toy weights are damaged: "
            + "; ".join(problems)
            + ". Reinstall stylesweep (pip install -e .), or retrain them with "
            "`python -m stylesweep.toylab train`"
        )
    return Path(folder)


def copy_model(folder: str | Path, out: str | Path) -> Path:
    """Copy the checked SD model of a trained folder to `out` (via a sibling, then renamed)."""
    source = checked(folder) / MODEL_FOLDER
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def clip_digest(folder: str | Path = SHIPPED) -> str:
    """The sha256 of the CLIP's weights, as the manifest lists it."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    return manifest["files"][f"{CLIP_FOLDER}/open_clip_model.safetensors"]
