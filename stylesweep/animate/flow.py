"""Dense optical flow between frames, and what the animations do with it: carry a frame along
the motion of a source video (Deforum's hybrid motion), and make in-between frames.

The flow is OpenCV's DIS (Kroeger et al. 2016) at its "medium" preset. Measured on a
translating pattern (bench/run.py --rows restyle, and tests/test_flow.py): about 0.01 px of
error at 64 and 512 px, 15 ms a frame at 512 px on one CPU core, where scikit-image's TV-L1
took 1.4 s for the same accuracy and OpenCV's Farneback 42 ms with twice the error.

Images are numpy uint8 H x W x 3 RGB, as in stylesweep.animate.frames. A flow is float32
H x W x 2 (x, y): `flow[y, x]` says where the content at (x, y) of the first image is in the
second, relative to (x, y).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from stylesweep.animate.frames import _check_image, _to_uint8


def _cv2():
    import cv2

    # One thread: OpenCV's parallel loops would share the job's two cores with torch, and a
    # single thread gives the same flow on every run.
    cv2.setNumThreads(1)
    return cv2


def optical_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The flow from `first` to `second` (same shape): first(p) ~ second(p + flow(p))."""
    _check_image(first, "first")
    _check_image(second, "second")
    if first.shape != second.shape:
        raise ValueError(f"frames of different shapes: {first.shape} and {second.shape}")
    cv2 = _cv2()
    grey = [
        cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) for image in (first, second)
    ]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(grey[0], grey[1], None)


def sample_at(image: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Each pixel p of the result is `image` at p + offset(p) (bilinear; the edge pixels
    repeat past the border, as the animations' "replicate" border)."""
    _check_image(image)
    cv2 = _cv2()
    height, width = image.shape[:2]
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    map_x = grid_x + offset[..., 0].astype(np.float32)
    map_y = grid_y + offset[..., 1].astype(np.float32)
    # float32 in, so the rounding back to uint8 is ours (np.rint), as in every frame operation
    moved = cv2.remap(
        image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return _to_uint8(moved)


def carry(image: np.ndarray, source_before: np.ndarray, source_after: np.ndarray) -> np.ndarray:
    """`image`, which stands where `source_before` does, moved as the source video moved from
    `source_before` to `source_after` (Deforum's hybrid optical-flow motion).

    The flow is taken backwards, from `source_after` to `source_before`, so every pixel of
    the result is looked up where it came from: no holes, unlike pushing pixels forward.
    """
    return sample_at(image, optical_flow(source_after, source_before))


def in_between(first: np.ndarray, second: np.ndarray, count: int) -> list[np.ndarray]:
    """`count` frames between `first` and `second`, evenly spaced in time, by optical flow
    both ways: at time w, `first` moved forward by w of its flow to `second`, and `second`
    moved back by 1 - w of its flow to `first`, blended (1 - w) to w. No learned weights:
    the cheapest smoothness there is, and what a frame needs that is not diffused."""
    if count < 1:
        return []
    forward, backward = optical_flow(first, second), optical_flow(second, first)
    frames = []
    for index in range(1, count + 1):
        weight = index / (count + 1)
        from_first = sample_at(first, -weight * forward).astype(np.float64)
        from_second = sample_at(second, -(1 - weight) * backward).astype(np.float64)
        frames.append(_to_uint8(from_first * (1 - weight) + from_second * weight))
    return frames


def interpolate(frames: Iterable[np.ndarray], count: int) -> Iterator[np.ndarray]:
    """`frames` with `count` in-between frames after each but the last: (n - 1) x
    (count + 1) + 1 frames in all. One frame ahead is held, not the whole animation."""
    previous = None
    for frame in frames:
        if previous is not None:
            yield from in_between(previous, frame, count)
        yield frame
        previous = frame
