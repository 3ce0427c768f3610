"""The demo's inputs: procedural stills in the look of analog video synthesis, a clip, a
soundtrack, and a portrait.

Each still is made by a rule from a seed (oscillator interference, rotating feedback,
op-art rings, raster bars with sync wobble, warped checkerboards), posterized to a hard
palette, so nothing binary has to live in the repository.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from PIL import Image

from stylesweep.files import atomic_path
from stylesweep.video import write_mp4

PALETTES = [
    [(255, 0, 128), (0, 255, 200), (20, 0, 60), (255, 240, 0)],
    [(0, 0, 0), (255, 60, 0), (0, 180, 255), (255, 255, 255)],
    [(80, 0, 160), (255, 0, 255), (0, 255, 0), (10, 10, 40)],
    [(255, 200, 0), (200, 0, 40), (0, 40, 120), (0, 255, 255)],
]


# The patterns' coordinates span [-SPAN, SPAN]: bold enough that the style survives at the
# demo's 64 px and its autoencoder's 8x8 latents (finer stripes blur into one colour there).
SPAN = 0.5


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = np.linspace(-SPAN, SPAN, size, dtype=np.float64)
    return np.meshgrid(axis, axis)


def _oscillators(x, y, rng) -> np.ndarray:
    f = rng.uniform(3, 12, size=4)
    return np.sin(f[0] * x + 2 * np.sin(f[1] * y)) + np.sin(f[2] * y + 2 * np.sin(f[3] * x))


def _rings(x, y, rng) -> np.ndarray:
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    return np.sin(rng.uniform(15, 40) * r + rng.integers(2, 9) * theta + rng.uniform(0, 6))


def _raster_bars(x, y, rng) -> np.ndarray:
    wobble = 0.3 * np.sin(rng.uniform(5, 20) * y + rng.uniform(0, 6))
    return np.sin(rng.uniform(10, 30) * y) + np.sin(rng.uniform(4, 12) * (x + wobble))


def _checker(x, y, rng) -> np.ndarray:
    k = rng.uniform(4, 10)
    wx = x + 0.25 * np.sin(rng.uniform(3, 8) * y)
    wy = y + 0.25 * np.sin(rng.uniform(3, 8) * x)
    return np.sign(np.sin(k * wx)) * np.sign(np.sin(k * wy)) + 0.5 * np.sin(3 * np.hypot(x, y))


def _feedback(x, y, rng) -> np.ndarray:
    """Iterate a zoom-and-rotate map, the look of a camera pointed at its own monitor."""
    field = np.sin(6 * x) * np.cos(6 * y)
    angle, zoom = rng.uniform(0.1, 0.5), rng.uniform(0.8, 0.95)
    size = x.shape[0]
    for _ in range(8):
        u = zoom * (np.cos(angle) * x - np.sin(angle) * y)
        v = zoom * (np.sin(angle) * x + np.cos(angle) * y)
        iu = np.clip(((u / SPAN + 1) / 2 * (size - 1)).round().astype(int), 0, size - 1)
        iv = np.clip(((v / SPAN + 1) / 2 * (size - 1)).round().astype(int), 0, size - 1)
        field = 0.85 * field[iv, iu] + np.sin(10 * np.hypot(x, y) - field)
    return field


PATTERNS = [_oscillators, _rings, _feedback, _raster_bars, _checker]


def video_synth_still(index: int, size: int = 256, seed: int = 0) -> Image.Image:
    """One still: pattern and palette chosen by `index`, parameters drawn from (seed, index)."""
    rng = np.random.default_rng([seed, index])
    x, y = _grid(size)
    field = PATTERNS[index % len(PATTERNS)](x, y, rng)
    palette = np.array(PALETTES[(index // len(PATTERNS) + index) % len(PALETTES)], dtype=np.uint8)
    levels = np.quantile(field, np.linspace(0, 1, len(palette) + 1)[1:-1])
    return Image.fromarray(palette[np.digitize(field, levels)], "RGB")


def write_demo_stills(
    folder: str | Path, count: int = 12, size: int = 256, seed: int = 0
) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"vsynth_{index:02d}.png"
        with atomic_path(path) as tmp:
            video_synth_still(index, size, seed).save(tmp, format="PNG")
        paths.append(path)
    return paths


# The demo's clip: two scenes of moving patterns with a hard cut between them, so that the
# dataset stage's frames every N seconds and at scene changes both run in the demo.
CLIP_PATTERNS = (0, 1)  # oscillators, then op-art rings (the feedback pattern needs a square)


def video_synth_clip_frame(
    time: float, seconds: float, width: int, height: int, seed: int = 0
) -> np.ndarray:
    """The clip's frame at `time` (seconds) as an RGB array: its scene's pattern, turning
    and drifting with time, posterized like the stills."""
    scene = min(int(time / seconds * len(CLIP_PATTERNS)), len(CLIP_PATTERNS) - 1)
    index = CLIP_PATTERNS[scene]
    rng = np.random.default_rng([seed, 1000 + index])
    aspect = width / height
    x, y = np.meshgrid(
        np.linspace(-SPAN * aspect, SPAN * aspect, width), np.linspace(-SPAN, SPAN, height)
    )
    angle, drift = 0.6 * time, 0.3 * time
    u = np.cos(angle) * x - np.sin(angle) * y + drift
    v = np.sin(angle) * x + np.cos(angle) * y
    field = PATTERNS[index](u, v, rng)
    palette = np.array(PALETTES[(index + 2) % len(PALETTES)], dtype=np.uint8)
    levels = np.quantile(field, np.linspace(0, 1, len(palette) + 1)[1:-1])
    return palette[np.digitize(field, levels)]


def write_demo_clip(
    path: str | Path,
    seconds: float = 3.0,
    fps: int = 8,
    width: int = 128,
    height: int = 96,
    seed: int = 0,
) -> Path:
    """A short H.264 (yuv420p) MP4 of moving video-synth patterns, with a cut half-way."""
    frames = (
        video_synth_clip_frame(index / fps, seconds, width, height, seed)
        for index in range(round(seconds * fps))
    )
    return write_mp4(frames, path, fps)


def write_demo_soundtrack(
    path: str | Path, seconds: float = 3.0, bpm: float = 120.0, rate: int = 44100
) -> Path:
    """A mono 16-bit WAV of synth tones on a steady beat, for the demo's restyled clip: a
    kick on every beat (a sine falling from 150 to 50 Hz), a square-ish bass note that
    changes every two beats and a quiet high drone. The kicks are what the animation's
    `beat` schedule variable finds (a hi-hat between them drew the beat tracker onto the
    off-beats: from near silence, its noise rises in every high band at once)."""
    times = np.arange(round(seconds * rate)) / rate
    beat = 60.0 / bpm
    signal = np.zeros_like(times)
    for start in np.arange(0.0, seconds, beat):
        since = times - start
        on = since >= 0
        pitch = 50 + 100 * np.exp(-since[on] * 30)  # the kick's falling pitch
        phase = 2 * np.pi * np.cumsum(pitch) / rate
        signal[on] += 0.9 * np.sin(phase) * np.exp(-since[on] * 12)
    notes = np.array([55.0, 65.41, 49.0, 73.42])  # A1, C2, G1, D2
    note = notes[(times // (2 * beat)).astype(int) % len(notes)]
    signal += 0.15 * np.tanh(3 * np.sin(2 * np.pi * np.cumsum(note) / rate))
    signal += 0.03 * np.sin(2 * np.pi * 880 * times) * (1 + 0.5 * np.sin(2 * np.pi * times))
    samples = np.round(np.clip(signal / np.abs(signal).max() * 0.8, -1, 1) * 32767)
    path = Path(path)
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path
