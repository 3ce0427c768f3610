"""stylesweep: train a sweep of Stable Diffusion style models and compare them."""

import logging
import os

# No weights are ever downloaded at run time: the Hugging Face hub clients (transformers,
# diffusers, open_clip) read this when first imported, so it is set before any of them is.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# bitsandbytes (8-bit AdamW) warns on import, through peft and diffusers, that an optional
# 4-bit CPU kernel it would fetch from the hub is missing; stylesweep uses no 4-bit layers.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: "gemm_4bit_forward" not in record.getMessage()
)

__version__ = "0.1.0"
