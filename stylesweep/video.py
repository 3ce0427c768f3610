"""Video in and out: frames from the artist's videos, the two measures frames are dropped
by, and the writers of the animations' MP4 and preview.

Frames are taken every N seconds and/or at scene changes; the dataset stage
(stylesweep/dataset.py) crops them like the stills, drops the blurred ones (variance of the
Laplacian) and the near-duplicates (perceptual hash), and caps how many one video gives.

PyAV (`av`) decodes: its wheels bundle libav with its codecs, so no ffmpeg on PATH is
assumed. It is imported when a video is opened, not with this module, so a folder of stills
never pays for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from stylesweep.files import atomic_path

# The config keys of dataset: that reach this module, and their names here.
KEYS = {
    "video_every_seconds": "every_seconds",
    "video_scene_threshold": "scene_threshold",
    "video_max_frames": "max_frames",
    "blur_threshold": "blur_threshold",
    "dedupe_distance": "dedupe_distance",
}
SCENE_SIZE = 64  # scene scores compare small greyscale copies: cheap, and blind to grain
HASH_SIZE = 8  # dHash of 8 x 8 = 64 bits
EPSILON = 1e-6  # seconds: frame times are rationals that floats do not always hit exactly


class VideoError(ValueError):
    """A video that gives no frame, or settings that cannot take one."""


@dataclass(frozen=True)
class VideoSettings:
    """What the dataset stage does with a video: the `video_*`, `blur_threshold` and
    `dedupe_distance` keys of `dataset:` (the schema holds their defaults and meaning)."""

    every_seconds: float | None
    scene_threshold: float | None
    max_frames: int
    blur_threshold: float
    dedupe_distance: int | None

    @classmethod
    def from_config(cls, settings: Mapping) -> VideoSettings:
        """Strictly from the config keys (named as in config.yaml): none missing, none extra."""
        missing = sorted(set(KEYS) - set(settings))
        extra = sorted(set(settings) - set(KEYS))
        if missing or extra:
            raise VideoError(
                f"video settings: missing {missing or 'none'}, unknown {extra or 'none'}"
            )
        return cls(**{KEYS[key]: value for key, value in settings.items()})

    @property
    def off(self) -> bool:
        """Neither clock nor cuts: no frame is taken, and videos are skipped."""
        return self.every_seconds is None and self.scene_threshold is None

    def as_config(self) -> dict:
        return {key: getattr(self, name) for key, name in KEYS.items()}


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


def read_errors() -> tuple[type[BaseException], ...]:
    """What opening or decoding a damaged video raises."""
    import av

    return (av.FFmpegError, OSError, ValueError, EOFError)


def upright(image: Image.Image, rotation: float) -> Image.Image:
    """The frame as a player shows it: phones store portrait video sideways with a display
    matrix, whose angle (libav's av_display_rotation_get) turns the frame counterclockwise."""
    turn = round(rotation / 90) % 4
    transposes = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180}
    return image.transpose(transposes.get(turn, Image.Transpose.ROTATE_270)) if turn else image


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


def timed_frames(container, stream) -> Iterator[tuple[float, object]]:
    """Each decoded frame of a video stream with its time in seconds from the first frame (a
    container may start at a small offset); without timestamps, frames are counted at the
    stream's rate."""
    rate = stream.average_rate or stream.guessed_rate
    start = None
    for index, decoded in enumerate(container.decode(stream)):
        if decoded.time is not None:
            start = decoded.time if start is None else start
            yield decoded.time - start, decoded
        else:  # no timestamps: count frames
            yield (index / float(rate) if rate else float(index)), decoded


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


def write_mp4(
    frames: Iterable[np.ndarray],
    path: str | Path,
    fps: int,
    crf: int = 16,
    audio: tuple[np.ndarray, int] | None = None,
) -> Path:
    """H.264 (yuv420p) MP4 of RGB frames (sides even), atomically, with an AAC soundtrack
    when `audio` (float32 samples of shape (channels, n), 1 or 2 channels; sample rate) is
    given: from time 0, cut at the end of the video (it ends early if it is shorter).

    H.264 in yuv420p is what every browser plays (Chromium does not play mp4v, OpenCV's
    default). The same frames give the same bytes, on every machine.
    """
    import av

    path = Path(path)
    if audio is not None:
        _check_audio(path, audio[0])
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = sound = None
        for index, pixels in enumerate(frames):
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.height, stream.width = pixels.shape[:2]
                stream.pix_fmt = "yuv420p"
                # x264's macroblock-tree rate control gives different bytes from run to run
                # in a process that has run torch (measured: 3 outcomes in 20 encodes of the
                # same frames, 1 without it), so it is off; one thread, as x264's output
                # also depends on its thread count (PyAV's default, 0, lets x264 choose).
                stream.options = {"crf": str(crf), "x264-params": "mbtree=0"}
                stream.codec_context.thread_count = 1
                if audio is not None:  # every stream is added before the first packet
                    sound = _add_audio_stream(container, *audio)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        if stream is None:
            raise VideoError(f"{path}: no frames to write")
        container.mux(stream.encode())
        if sound is not None:
            _mux_audio(container, sound, audio[0], (index + 1) / fps)
    return path


def _check_audio(path: Path, samples: np.ndarray) -> None:
    if samples.ndim != 2 or samples.shape[0] not in (1, 2):
        raise VideoError(
            f"{path}: audio must be samples of shape (channels, n) with 1 or 2 channels, "
            f"not {samples.shape}"
        )


def _add_audio_stream(container, samples: np.ndarray, rate: int):
    """An AAC stream (libav's own encoder, planar float) for `samples` at `rate` Hz."""
    sound = container.add_stream("aac", rate=rate)
    sound.layout = "mono" if samples.shape[0] == 1 else "stereo"
    sound.format = "fltp"
    return sound


def _mux_audio(container, sound, samples: np.ndarray, seconds: float) -> None:
    """Encode and mux `samples` from time 0 up to `seconds`, in the encoder's frames of
    1024 samples, each stamped with its first sample's index (the stream's time base is
    1 / rate). The MP4 muxer interleaves these packets with the video's by time."""
    import av

    rate = sound.codec_context.sample_rate
    samples = np.ascontiguousarray(samples[:, : round(seconds * rate)], dtype=np.float32)
    size = sound.codec_context.frame_size or 1024
    for start in range(0, samples.shape[1], size):
        chunk = np.ascontiguousarray(samples[:, start : start + size])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=sound.layout.name)
        frame.sample_rate = rate
        frame.pts = start
        container.mux(sound.encode(frame))
    container.mux(sound.encode())


def write_gif(
    frames: Iterable[Image.Image], path: str | Path, fps: int, longest: int = 256
) -> Path:
    """A looping GIF preview, at most `longest` px a side (Pillow; every browser plays it)."""
    small = []
    for frame in frames:
        scale = min(1.0, longest / max(frame.size))
        size = tuple(max(1, round(side * scale)) for side in frame.size)
        small.append(frame.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    if not small:
        raise VideoError(f"{path}: no frames to write")
    with atomic_path(path) as tmp:
        small[0].save(
            tmp, format="GIF", save_all=True, append_images=small[1:], loop=0,
            duration=round(1000 / fps), disposal=1,
        )  # fmt: skip
    return Path(path)
