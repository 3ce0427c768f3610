"""The per-frame image operations of a Deforum-style 2D animation.

Each frame of the animation starts from the previous one: warped by the frame's motion, its
colours held to a reference frame, its contrast scaled and noise added, before the model
denoises it. Cadence frames in between are blends of two rendered ones. The maths follows
deforum-art/deforum-stable-diffusion (MIT); scikit-image stands in for OpenCV.

Images are numpy uint8 arrays, H x W x 3 RGB, in and out of every function: the animation
saves each frame as PNG and resumes from it, so uint8 is the state between frames. Every
operation rounds (np.rint) and clips back to uint8, and is deterministic on CPU.
"""

from __future__ import annotations

import warnings

import numpy as np

BORDERS = ("replicate", "wrap")
COLOUR_MATCH = ("lab", "rgb", "hsv", "off")

# Deforum's border names, and scikit-image's modes for them.
_SKIMAGE_MODE = {"replicate": "edge", "wrap": "wrap"}


def _check_image(image: np.ndarray, name: str = "image") -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{name} must be a uint8 H x W x 3 RGB array, not {image.dtype} of shape {image.shape}"
        )


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round to nearest and clip: truncating would darken every frame by half a level on
    average, and the error would pile up over hundreds of frames."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _motion_matrix(
    shape: tuple[int, ...], zoom: float, angle: float, translation_x: float, translation_y: float
) -> np.ndarray:
    """The 3 x 3 forward map (source pixel (x, y, 1) to output pixel) of `warp`.

    As Deforum's `rot_mat @ trans_mat`: the translation comes first, then the rotation by
    `angle` degrees (counter-clockwise on screen, OpenCV's getRotationMatrix2D) and the scale
    `zoom` about the image centre. Deforum rotates about (W // 2, H // 2); we take the
    geometric centre ((W - 1) / 2, (H - 1) / 2), so a symmetric frame zooms symmetrically and
    a quarter turn of a square frame is an exact permutation of its pixels.
    """
    height, width = shape[:2]
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    radians = np.deg2rad(angle)
    a, b = zoom * np.cos(radians), zoom * np.sin(radians)
    rotation = np.array(
        [
            [a, b, (1 - a) * centre_x - b * centre_y],
            [-b, a, b * centre_x + (1 - a) * centre_y],
            [0.0, 0.0, 1.0],
        ]
    )
    translation = np.array([[1.0, 0.0, translation_x], [0.0, 1.0, translation_y], [0.0, 0.0, 1.0]])
    return rotation @ translation


def warp(
    image: np.ndarray,
    zoom: float,
    angle: float,
    translation_x: float,
    translation_y: float,
    border: str = "replicate",
) -> np.ndarray:
    """Deforum's 2D motion: rotate by `angle` degrees (counter-clockwise) about the centre with
    scale `zoom` (> 1 zooms in), and translate by (translation_x, translation_y) pixels
    (positive x moves content right, positive y down).

    The translation is composed as Deforum composes it (`_motion_matrix`): applied before the
    rotation and zoom, so on screen content moves by zoom x the rotated translation; at
    angle 0 and zoom 1 that is exactly (translation_x, translation_y). Bilinear. Pixels from
    outside the frame come from `border`: "replicate" repeats the edge, "wrap" tiles the frame.
    The identity motion returns the input bytes unchanged, so a still camera adds no blur.
    """
    _check_choice(border, BORDERS, "border")
    _check_image(image)
    if zoom == 1 and angle == 0 and translation_x == 0 and translation_y == 0:
        return image.copy()
    if zoom <= 0:
        raise ValueError(f"zoom must be positive, not {zoom}")
    from skimage.transform import warp as skimage_warp

    forward = _motion_matrix(image.shape, zoom, angle, translation_x, translation_y)
    # skimage maps each output pixel back to the source: it takes the inverse of the motion.
    # A 3 x 3 matrix on a float64 image takes its fast Cython path, channel by channel.
    warped = skimage_warp(
        image.astype(np.float64),
        np.linalg.inv(forward),
        order=1,
        mode=_SKIMAGE_MODE[border],
        preserve_range=True,
    )
    return _to_uint8(warped)


def unwarp(
    image: np.ndarray,
    motions: list[tuple[float, float, float, float]],
    border: str = "replicate",
) -> np.ndarray:
    """`image` moved back through `motions` ((zoom, angle, translation_x, translation_y) each,
    in the order they were applied): where a frame made after them stood before them.

    Diffusion cadence blends the next diffused frame, moved back to a frame between, with the
    last one moved on to it, so that both stand where the camera is at that frame.
    """
    _check_choice(border, BORDERS, "border")
    _check_image(image)
    forward = np.eye(3)
    for motion in motions:
        forward = _motion_matrix(image.shape, *motion) @ forward
    if np.allclose(forward, np.eye(3)):
        return image.copy()
    from skimage.transform import warp as skimage_warp

    # skimage wants the map from output to source: moving back, that is the forward motion
    moved = skimage_warp(
        image.astype(np.float64), forward, order=1, mode=_SKIMAGE_MODE[border],
        preserve_range=True,
    )  # fmt: skip
    return _to_uint8(moved)


def match_colours(image: np.ndarray, reference: np.ndarray, mode: str) -> np.ndarray:
    """Histogram-match `image` to `reference`, channel by channel, in the colour space `mode`.

    Deforum's colour coherence: without it an animation drifts in colour frame after frame
    (each denoise nudges the palette, and the nudges add up). "lab" matches lightness apart
    from colour, "hsv" hue, saturation and value, "rgb" the raw channels; "off" returns the
    image as it is.
    """
    _check_choice(mode, COLOUR_MATCH, "colour match mode")
    _check_image(image)
    _check_image(reference, "reference")
    if mode == "off":
        return image.copy()
    from skimage import color
    from skimage.exposure import match_histograms

    if mode == "rgb":
        return _to_uint8(match_histograms(image, reference, channel_axis=-1))
    if mode == "hsv":
        matched = match_histograms(color.rgb2hsv(image), color.rgb2hsv(reference), channel_axis=-1)
        return _to_uint8(color.hsv2rgb(matched) * 255)
    matched = match_histograms(color.rgb2lab(image), color.rgb2lab(reference), channel_axis=-1)
    with warnings.catch_warnings():
        # Channels matched one by one can combine into colours outside sRGB; lab2rgb clips
        # them, which is what we want, and warns each time.
        warnings.filterwarnings("ignore", message=".*negative Z values.*")
        return _to_uint8(color.lab2rgb(matched) * 255)


def apply_contrast(image: np.ndarray, contrast: float) -> np.ndarray:
    """Scale every channel by `contrast` (Deforum's contrast schedule, usually just under 1 to
    keep repeated denoising from burning the frame in).

    Clipped to 0..255 before the cast: Deforum casts without clipping, so its bright pixels
    wrap round to dark ones.
    """
    _check_image(image)
    return _to_uint8(image.astype(np.float64) * contrast)


def add_noise(image: np.ndarray, amount: float, seed: int) -> np.ndarray:
    """Add Gaussian noise, as Deforum's noise schedule does to the sample in [-1, 1] units:
    `amount` N(0, 1) there is `amount` x 127.5 N(0, 1) pixel levels here. It gives the
    denoiser fresh detail to work on, so zooms do not smear.

    The noise is torch's CPU normal from `seed` (float32, the image's shape): the same bytes
    on every machine. `amount` 0 returns the input unchanged.
    """
    _check_image(image)
    if amount == 0:
        return image.copy()
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(image.shape, generator=generator, dtype=torch.float32).numpy()
    return _to_uint8(image.astype(np.float64) + amount * 127.5 * noise.astype(np.float64))


def blend(previous: np.ndarray, following: np.ndarray, weight: float) -> np.ndarray:
    """The in-between frame of diffusion cadence: `previous` x (1 - weight) + `following` x
    weight, so weight 0 is `previous` and 1 is `following`. Only every cadence-th frame is
    denoised; the frames between are these blends of the two warped neighbours.
    """
    _check_image(previous, "previous")
    _check_image(following, "following")
    if previous.shape != following.shape:
        raise ValueError(f"frames of different shapes: {previous.shape} and {following.shape}")
    mixed = previous.astype(np.float64) * (1 - weight) + following.astype(np.float64) * weight
    return _to_uint8(mixed)
