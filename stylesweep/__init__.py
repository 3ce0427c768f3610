"""stylesweep: train a sweep of Stable Diffusion style models and compare them."""

import os

# No weights are ever downloaded at run time: the Hugging Face hub clients (transformers,
# diffusers, open_clip) read this when first imported, so it is set before any of them is.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"
