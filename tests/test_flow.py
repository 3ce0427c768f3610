"""Optical flow, the carry of a frame along a clip's motion, and in-between frames."""

from __future__ import annotations

import numpy as np
import pytest

from stylesweep.animate.flow import carry, in_between, interpolate, optical_flow


def pattern(size: int, shift_x: float = 0.0, shift_y: float = 0.0) -> np.ndarray:
    """A smooth, textured RGB pattern moved by (shift_x, shift_y) pixels."""
    y, x = np.mgrid[0:size, 0:size].astype(float)
    x, y = x - shift_x, y - shift_y
    waves = np.sin(x / 5) * np.cos(y / 7) + np.sin((x + y) / 11 + np.cos(x / 13))
    field = 0.5 + 0.25 * waves
    grey = np.clip(field, 0, 1) * 255
    return np.stack([grey, 255 - grey, grey / 2], axis=-1).round().astype(np.uint8)


INNER = slice(8, -8)  # away from the edges, where content comes in from outside the frame


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("shift", [(2.3, -1.4), (-3.0, 0.5)])
def test_the_flow_of_a_translating_pattern_is_its_shift(size, shift):
    flow = optical_flow(pattern(size), pattern(size, *shift))
    error = np.hypot(flow[INNER, INNER, 0] - shift[0], flow[INNER, INNER, 1] - shift[1])
    assert error.mean() < 0.5 and np.median(error) < 0.25, error.mean()
    assert np.array_equal(flow, optical_flow(pattern(size), pattern(size, *shift)))  # repeatable


def test_carry_moves_a_frame_as_the_clip_moved():
    before, after = pattern(64), pattern(64, 2.3, -1.4)
    carried = carry(before, before, after).astype(int)
    assert np.abs(carried[INNER, INNER] - after[INNER, INNER]).mean() < 1.0
    assert np.abs(before[INNER, INNER].astype(int) - after[INNER, INNER]).mean() > 5


def test_an_in_between_frame_stands_half_way():
    first, second, middle = pattern(64), pattern(64, 3.0, 1.0), pattern(64, 1.5, 0.5)
    (made,) = in_between(first, second, 1)
    error = np.abs(made[INNER, INNER].astype(int) - middle[INNER, INNER]).mean()
    blended = (first.astype(float) + second) / 2
    assert error < 0.5 * np.abs(blended[INNER, INNER] - middle[INNER, INNER]).mean()


@pytest.mark.parametrize("count", [0, 1, 3])
def test_interpolation_gives_frames_minus_one_times_n_plus_one_plus_one(count):
    frames = [pattern(32, shift) for shift in range(4)]
    out = list(interpolate(iter(frames), count))
    assert len(out) == (len(frames) - 1) * (count + 1) + 1
    assert all(out[index * (count + 1)] is frame for index, frame in enumerate(frames))
