"""The source clip of a restyled video (`video_init`): which of its frames each animation
frame starts from, and those frames at the animation's size.

Output frame N starts from the clip's frame showing at N x extract_nth_frame / fps seconds:
with extract_nth_frame 1 the clip keeps its speed at any fps; with n it plays n times
faster, fewer frames rendered (Deforum's extract_nth_frame). PyAV decodes, as for the
dataset's videos.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

EPSILON = 1e-6  # seconds: frame times are rationals that floats do not always hit


class SourceError(ValueError):
    """A source clip that cannot be read; the message names the file and the reason."""


def read_clip(path: str | Path) -> tuple[list[float], list[Image.Image]]:
    """Every frame of the clip's first video stream, upright, with its time in seconds from
    the first frame."""
    import av

    from stylesweep.video import read_errors, timed_frames, upright

    times, images = [], []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SourceError(f"{path}: has no video stream")
            for time, decoded in timed_frames(container, container.streams.video[0]):
                times.append(time)
                images.append(upright(decoded.to_image(), decoded.rotation or 0))
    except SourceError:
        raise
    except read_errors() as error:
        raise SourceError(f"{path}: cannot be read as a video ({error})") from None
    if not images:
        raise SourceError(f"{path}: has no frames")
    return times, images


def clip_length(times: list[float], fps: float, nth: int) -> int:
    """How many animation frames the clip gives: those whose time falls before its end (the
    last frame shows for as long as the one before it)."""
    step = times[-1] - times[-2] if len(times) > 1 else 1 / fps
    end = times[-1] + step
    return max(1, math.ceil((end - EPSILON) * fps / nth))


def probe_length(path: str | Path, fps: float, nth: int) -> int | None:
    """The clip's length in animation frames from its container's duration, without decoding
    it (for the plan, before any job); None when it cannot be told."""
    import av

    from stylesweep.video import read_errors

    try:
        with av.open(str(path)) as container:
            if not container.streams.video or not container.duration:
                return None
            seconds = container.duration / 1e6
    except read_errors():
        return None
    return max(1, math.ceil((seconds - EPSILON) * fps / nth))


def source_index(times: list[float], time: float) -> int:
    """The clip's frame showing at `time`: the last one at or before it."""
    return max(0, int(np.searchsorted(np.asarray(times), time + EPSILON, side="right")) - 1)


def source_frames(
    times: list[float], images: list[Image.Image], frames: int, fps: float, nth: int, size: int
) -> list[np.ndarray]:
    """The source frame of each of `frames` animation frames, cropped to a square at its
    centre and resized to `size`, as the init image is. Past the clip's end, its last frame."""
    fitted: dict[int, np.ndarray] = {}
    out = []
    for frame in range(frames):
        index = source_index(times, frame * nth / fps)
        if index not in fitted:
            image = ImageOps.fit(
                images[index].convert("RGB"), (size, size), Image.Resampling.LANCZOS
            )
            fitted[index] = np.asarray(image)
        out.append(fitted[index])
    return out
