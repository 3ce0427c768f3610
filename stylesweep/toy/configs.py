"""The shipped configuration of `builtin:toy`: the parts' sizes and how each part trains.

Sizes are set by two budgets: every weight file together at most 40 MB (float32 for the
diffusers parts, float16 for the CLIP copy; 37.5 MB in all), and the whole training about
40 minutes on two CPU cores (measured on one thread: VAE 0.26 s a step, CLIP 0.41 s, UNet
0.45 s; about an hour in all).
- Text: the real SD 1.5 tokenizer forces a 49408-row token table, so the text width decides
  most of the size: 64 wide (cross-attention 64, like `builtin:tiny`) is 3.3 M parameters,
  13 MB, and three layers let the words of a caption see each other.
- VAE: SD's KL autoencoder with 8x downsampling, 64 px to 8x8x4 latents (SD's 48x
  compression); narrow at full resolution (16 channels), where its cost is; 1 M parameters.
  Group norms of 4 channels: with one channel a group, a norm erases each colour's mean,
  and flat-coloured pictures come back blotched.
- UNet: SD's layout (cross-attention down/up blocks, a cross-attention mid block) on 8x8
  latents, three levels (8, 4, 2), 48-96-96 channels, 3.3 M parameters, 13 MB.
- CLIP: open_clip's CLIP, a ViT of 8 px patches (64 tokens) and the text tower above; its text
  tower is the SD text encoder, as OpenAI's CLIP ViT-L/14 text tower is SD 1.5's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path

NAME = "stylesweep-toy-clip"
IMAGE_SIZE = 64
# Where the trained weights ship (with their manifest) once a full run has made them.
SHIPPED = Path(str(files("stylesweep") / "data" / "toy"))
MAX_MEGABYTES = 40

TEXT_WIDTH = 64
TEXT_LAYERS = 3
TEXT_HEADS = 4

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(16, 32, 64, 64),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=1,
    norm_num_groups=4,  # 4 channels a group at full resolution: 1 would erase each colour's mean
    sample_size=IMAGE_SIZE,
)

UNET_CONFIG = dict(
    sample_size=IMAGE_SIZE // 8,
    in_channels=4,
    out_channels=4,
    layers_per_block=1,
    block_out_channels=(48, 96, 96),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=TEXT_WIDTH,
    attention_head_dim=8,
    norm_num_groups=8,
)

# The SD text encoder's CLIPTextConfig, less what every SD 1.5 text encoder shares
# (stylesweep.base.CLIP_TOKENS).
TEXT_CONFIG = dict(
    hidden_size=TEXT_WIDTH,
    intermediate_size=4 * TEXT_WIDTH,
    num_hidden_layers=TEXT_LAYERS,
    num_attention_heads=TEXT_HEADS,
    projection_dim=TEXT_WIDTH,
)

# open_clip's model config (its open_clip_config.json "model_cfg").
CLIP_CONFIG = {
    "embed_dim": 64,
    "quick_gelu": True,  # SD 1.5's text encoder (OpenAI CLIP) uses QuickGELU
    "vision_cfg": {
        "image_size": IMAGE_SIZE,
        "layers": 3,
        "width": 64,
        "patch_size": 8,
        "head_width": 32,
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,
        "width": TEXT_WIDTH,
        "heads": TEXT_HEADS,
        "layers": TEXT_LAYERS,
    },
}


@dataclass(frozen=True)
class Part:
    """How one part trains: steps, batch, peak learning rate (warm-up, then cosine decay)."""

    steps: int
    batch_size: int
    learning_rate: float
    warmup: int = 100
    weight_decay: float = 0.0


@dataclass(frozen=True)
class Plan:
    """The whole training: the parts in order, and the UNet's data."""

    vae: Part = Part(steps=4000, batch_size=16, learning_rate=2e-3)
    clip: Part = Part(steps=2000, batch_size=128, learning_rate=1e-3, weight_decay=0.1)
    unet: Part = Part(steps=4000, batch_size=64, learning_rate=5e-4)
    # the style-and-content scorer, from the trained CLIP's vision tower (toylab/scorer.py)
    scorer: Part = Part(steps=400, batch_size=128, learning_rate=3e-4, warmup=50, weight_decay=0.05)
    scorer_temperature: float = 0.1
    kl_weight: float = 1e-6  # the VAE's, as in SD: an autoencoder whose latents stay tame
    latent_images: int = 30_000  # pictures encoded once for the UNet (captions vary per step)
    caption_dropout: float = 0.1  # empty captions, so classifier-free guidance works
    snr_gamma: float = 5.0  # min-SNR loss weighting: faster convergence of a small UNet
    ema_decay: float = 0.999  # the UNet ships its exponential moving average
    log_every: int = 50

    def with_steps(self, steps: int) -> Plan:
        """The same plan with every part cut to `steps` steps (warm-up and data with them)."""

        def cut(part: Part) -> Part:
            return replace(part, steps=steps, warmup=min(part.warmup, steps // 2))

        return replace(
            self,
            vae=cut(self.vae),
            clip=cut(self.clip),
            unet=cut(self.unet),
            scorer=cut(self.scorer),
            latent_images=min(self.latent_images, steps * self.unet.batch_size),
        )
