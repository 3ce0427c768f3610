"""GPU hours of the sweep on a few GPUs, from FLOP counts and one measured run.

A training step costs its forward pass three times (forward, and a backward of about
twice the forward), four times with gradient checkpointing (the forward again, block by
block). A sampling step is one UNet forward per image and CFG half. FLOPs become seconds
at the fraction of a GPU's datasheet peak that a real run reached: the blog's, 6000
DreamBooth steps of SD 1.5 at 512 px, batch 1, in about 1 h 45 on Colab's T4 (fp16,
gradient checkpointing, 8-bit AdamW, as TheLastBen's fast-DreamBooth notebook trains).
At batch size 1 a large GPU reaches a smaller fraction of its peak than a T4, so read the
A100 and H100 figures as the least time it could take. `bash bench/gpu_check.sh` measures
the real figure on a lent GPU.
"""

from __future__ import annotations

# Dense fp16/bf16 tensor throughput, TFLOP/s, from the vendors' datasheets: NVIDIA T4
# (65), A10 (125), A100 SXM (312), H100 SXM (989).
PEAK_TFLOPS = {"T4": 65.0, "A10": 125.0, "A100": 312.0, "H100": 989.0}
BLOG_STEPS, BLOG_SECONDS = 6000, 105 * 60
# SD 1.5's UNet forward at 512 px, batch 1 (+ the text encoder), as stylesweep.plan.memory
# counts it: 0.817 TFLOP.
SD15_FORWARD_TFLOP = 0.817
BLOG_FRACTION = (4 * SD15_FORWARD_TFLOP * BLOG_STEPS / BLOG_SECONDS) / PEAK_TFLOPS["T4"]


def train_step_flops(forward_flops: int, gradient_checkpointing: bool) -> int:
    return forward_flops * (4 if gradient_checkpointing else 3)


def gpu_hours(flops: float) -> dict[str, float]:
    """Hours that `flops` take on each GPU at the blog's fraction of its peak."""
    return {gpu: flops / (peak * 1e12 * BLOG_FRACTION) / 3600 for gpu, peak in PEAK_TFLOPS.items()}
