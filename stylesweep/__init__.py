"""stylesweep: train a sweep of Stable Diffusion style models and compare them."""

import logging
import os

# No weights are ever downloaded at run time: the Hugging Face hub clients (transformers,
# diffusers, open_clip) read this when first imported, so it is set before any of them is.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The same bytes on one machine: MKL (torch's BLAS on x86) may pick its kernels by the
# memory alignment of each call's arrays, so the same training step on two runs could differ
# in the last bits (seen on an AVX-512 Xeon: segments no longer added up to one run, and
# two runs of the same segment differed). Conditional Numerical Reproducibility in strict
# mode removes that; MKL reads it at its first call, so this holds even after torch's import.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

# bitsandbytes (8-bit AdamW) warns on import, through peft and diffusers, that an optional
# 4-bit CPU kernel it would fetch from the hub is missing; stylesweep uses no 4-bit layers.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: "gemm_4bit_forward" not in record.getMessage()
)

__version__ = "0.1.0"
