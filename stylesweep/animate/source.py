"""The source clip of a restyled video (`video_init`): the clip's frame each animation frame
starts from, at the animation's size.

Output frame N starts from the clip's frame showing at N x extract_nth_frame / fps seconds:
with extract_nth_frame 1 the clip keeps its speed at any fps; with n it plays n times
faster, fewer frames rendered (Deforum's extract_nth_frame). PyAV decodes, as for the
dataset's videos, in one pass that keeps only the frames used, cropped and resized: an
artist's clip in 4K would not fit in memory whole.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

EPSILON = 1e-6  # seconds: frame times are rationals that floats do not always hit


class SourceError(ValueError):
    """A source clip that cannot be read; the message names the file and the reason."""


def fit(image: Image.Image, size: int) -> np.ndarray:
    """Cropped to a square at its centre and resized, as the init image and the stills are."""
    return np.asarray(ImageOps.fit(image.convert("RGB"), (size, size), Image.Resampling.LANCZOS))


def clip_frames(
    path: str | Path, fps: float, nth: int, size: int, frames: int | None = None
) -> tuple[list[np.ndarray], int]:
    """The clip's frame for each animation frame, `size` px square, and how many frames the
    clip has. `frames` None takes the clip's length (its last frame shows for as long as the
    one before it); a longer animation than the clip holds its last frame."""
    import av

    from stylesweep.video import read_errors, timed_frames, upright

    step = nth / fps  # seconds of the clip between two animation frames
    out: list[np.ndarray] = []
    shown = None  # the latest decoded frame: (time, picture at size)
    decoded, interval = 0, None

    def fill_until(time: float) -> None:
        """Every animation frame before `time` shows the latest decoded frame."""
        while (frames is None or len(out) < frames) and len(out) * step + EPSILON < time:
            out.append(shown[1])

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SourceError(f"{path}: has no video stream")
            for time, frame in timed_frames(container, container.streams.video[0]):
                if shown is not None:
                    interval = time - shown[0]
                    fill_until(time)
                    if frames is not None and len(out) == frames:
                        break
                decoded += 1
                picture = upright(frame.to_image(), frame.rotation or 0)
                shown = (time, fit(picture, size))
    except SourceError:
        raise
    except read_errors() as error:
        raise SourceError(f"{path}: cannot be read as a video ({error})") from None
    if shown is None:
        raise SourceError(f"{path}: has no frames")
    end = shown[0] + (interval if interval else step)  # the clip's end
    fill_until(end if frames is None else math.inf)
    return out, decoded


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
