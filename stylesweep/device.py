"""Where a job computes. Its own module: a job that needs only the device's name (score,
interrogation) should not import the model code with it."""

from __future__ import annotations


def resolve_device(name: str) -> str:
    """`auto` means the first CUDA GPU when there is one, else the CPU.

    Call it before anything starts CUDA (scripts call it first thing): on a machine with
    several GPUs it first claims a free one for this job from the pool of
    `stylesweep.gpu_pool` and makes it the only device CUDA sees, held until the job ends.
    """
    from stylesweep.gpu_pool import assign_device

    assign_device(name)
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
