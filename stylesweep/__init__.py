"""stylesweep: train a sweep of Stable Diffusion style models and compare them."""

__version__ = "0.1.0"
