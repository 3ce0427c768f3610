"""Where a job computes. Its own module: a job that needs only the device's name (score,
interrogation) should not import the model code with it."""

from __future__ import annotations


def resolve_device(name: str) -> str:
    """`auto` means the first CUDA GPU when there is one, else the CPU."""
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
