"""Which frames of a video become stills: the dataset's policy.

Frames are taken every N seconds and/or at scene changes; the dataset stage
(stylesweep/dataset.py) crops them like the stills, drops the blurred ones (variance of the
Laplacian) and the near-duplicates (perceptual hash), and caps how many one video gives. Here
are its settings, the choice of frames as a video decodes, and the two measures frames are
dropped by; opening and decoding the container is stylesweep/video.py's.

PyAV (`av`) is imported when a video is opened, not with this module, so a folder of stills
never pays for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from stylesweep.video import VideoError, timed_frames, upright

SCENE_SIZE = 64  # scene scores compare small greyscale copies: cheap, and blind to grain
HASH_SIZE = 8  # dHash of 8 x 8 = 64 bits
EPSILON = 1e-6  # seconds: frame times are rationals that floats do not always hit exactly


@dataclass
class Frame:
    """A frame taken from a video: its time (seconds from the first frame), the picture
    (RGB, upright) and why it was taken."""

    time: float
    image: Image.Image
    taken: str


@dataclass
class Video:
    """What was learnt about a video while its frames were read."""

    path: Path
    size: list[int] | None = None
    fps: float | None = None
    declared: float | None = None  # the duration the container states, in seconds
    decoded: int = 0  # frames decoded
    last_time: float | None = None  # of the last frame decoded
    taken: list[float] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """From the first frame to the end of the last one."""
        if self.last_time is None:
            return None
        return self.last_time + (1 / self.fps if self.fps else 0.0)

    def short_note(self) -> str | None:
        """A note when the frames end well before the duration the container states: a cut-off
        download or copy decodes without an error in some formats (Matroska, WebM)."""
        duration = self.duration
        if self.declared is None or duration is None:
            return None
        if duration >= self.declared - max(1.0, 0.1 * self.declared):
            return None
        return (
            f"frames end at {duration:.3f} s of the {self.declared:.3f} s the file states: "
            "it may be cut off"
        )


class FrameChooser:
    """Which decoded frames to take: the first frame with a time at or past each multiple of
    `every_seconds`, and the first frame of each new scene.

    The scene score is ffmpeg's (its `select='gt(scene,0.3)'` filter): the smaller of the
    mean absolute difference of luma to the previous frame (0..255) and how much that
    difference changed since the frame before, over 100, so steady motion scores low and a
    cut scores high. The first frame starts the first scene.
    """

    def __init__(self, every_seconds: float | None, scene_threshold: float | None):
        self.every_seconds = every_seconds
        self.scene_threshold = scene_threshold
        self.next_time = 0.0
        self.previous: np.ndarray | None = None
        self.previous_difference = 0.0

    def scene_score(self, grey: np.ndarray) -> float | None:
        """None for the first frame (it has no previous one)."""
        grey = grey.astype(np.float32)
        previous, self.previous = self.previous, grey
        if previous is None:
            return None
        difference = float(np.abs(grey - previous).mean())
        change = abs(difference - self.previous_difference)
        self.previous_difference = difference
        return min(difference, change) / 100

    def reasons(self, time: float, grey: np.ndarray | None) -> list[str]:
        """Why the frame at `time` (with its small greyscale copy) is taken; empty if not."""
        reasons = []
        if self.every_seconds is not None and time >= self.next_time - EPSILON:
            reasons.append(f"every {self.every_seconds:g} s")
            steps = math.floor((time + EPSILON) / self.every_seconds) + 1
            self.next_time = steps * self.every_seconds
        if self.scene_threshold is not None and grey is not None:
            score = self.scene_score(grey)
            if score is None:
                reasons.append("first scene")
            elif score > self.scene_threshold:
                reasons.append(f"scene change (score {score:.2f})")
        return reasons


def read_frames(
    video: Video, every_seconds: float | None, scene_threshold: float | None
) -> Iterator[Frame]:
    """Decode `video.path` and yield the frames taken, filling `video` as it goes.

    Times count from the first frame (a container may start at a small offset). A decoding
    error raises after the frames before it have been yielded, so the caller can keep them.
    """
    import av

    chooser = FrameChooser(every_seconds, scene_threshold)
    with av.open(str(video.path)) as container:
        if not container.streams.video:
            raise VideoError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        video.fps = round(float(rate), 3) if rate else None
        video.declared = container.duration / 1e6 if container.duration else None
        for time, decoded in timed_frames(container, stream):
            video.decoded += 1
            video.last_time = time
            grey = None
            if scene_threshold is not None:
                small = decoded.reformat(width=SCENE_SIZE, height=SCENE_SIZE, format="gray")
                grey = small.to_ndarray()
            if reasons := chooser.reasons(time, grey):
                image = upright(decoded.to_image(), decoded.rotation or 0)
                video.size = video.size or list(image.size)
                video.taken.append(time)
                yield Frame(time=round(time, 3), image=image, taken=", ".join(reasons))


def laplacian_variance(image: Image.Image) -> float:
    """Sharpness: the variance of the 4-neighbour Laplacian of the greyscale picture (0..255),
    the usual blur measure (OpenCV's Laplacian, ksize 1). A flat or blurred picture scores near 0.
    """
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    if min(grey.shape) < 3:
        return 0.0
    centre = grey[1:-1, 1:-1]
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * centre
    return float(laplacian.var())


def dhash(image: Image.Image) -> int:
    """A 64-bit difference hash: is each pixel of a 9 x 8 greyscale copy brighter than its
    right neighbour. Twenty lines of our own rather than `imagehash`, which would bring scipy
    and PyWavelets for this one function. Pictures that look alike differ in few bits; flat
    pictures of any colour all hash to 0 (the blur test drops those first)."""
    small = image.convert("L").resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    return int("".join("1" if bit else "0" for bit in bits), 2)


def hash_distance(a: int, b: int) -> int:
    """Hamming distance: how many of the 64 bits differ."""
    return (a ^ b).bit_count()


def evenly(count: int, keep: int) -> list[int]:
    """`keep` indices of `count` items spread from the first to the last."""
    if count <= keep:
        return list(range(count))
    if keep == 1:
        return [0]
    return sorted({round(i * (count - 1) / (keep - 1)) for i in range(keep)})
