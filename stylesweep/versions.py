"""Versions of the packages a result depends on, recorded in every manifest."""

from __future__ import annotations

import platform
from importlib import metadata

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


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
