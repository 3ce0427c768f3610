"""Versions of the packages a result depends on, recorded in every manifest."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "stylesweep",
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "peft",
    "open-clip-torch",
    "clip-interrogator",
    "snakemake",
    "pillow",
    "numpy",
)


def project_commit() -> str:
    """The git commit of this stylesweep checkout, `+dirty` when it has local changes."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        command = ["git", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "stylesweep commit": project_commit()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
