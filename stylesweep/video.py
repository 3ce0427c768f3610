"""Video containers in and out, what both the dataset and the animations use: the errors a
damaged video raises, each decoded frame with its time, a frame turned upright as a player
shows it; the writers of the animations' MP4 (with its soundtrack) and GIF preview.

Which frames of a video become stills is the dataset's policy, stylesweep/video_stills.py.

PyAV (`av`) decodes and encodes: its wheels bundle libav with its codecs, so no ffmpeg on PATH
is assumed. It is imported when a video is opened, not with this module, so a folder of
stills never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from stylesweep.files import atomic_path


class VideoError(ValueError):
    """A video that gives no frame, or settings that cannot take one."""


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
