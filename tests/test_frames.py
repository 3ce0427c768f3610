"""The per-frame operations of the animation (stylesweep/animate/frames.py), on small
synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest

from stylesweep.animate.frames import (
    BORDERS,
    COLOUR_MATCH,
    add_noise,
    apply_contrast,
    blend,
    match_colours,
    unwarp,
    warp,
)

HEIGHT, WIDTH = 32, 48
SQUARE = (slice(6, 12), slice(30, 36))  # rows, columns: off-centre, up and to the right


def picture(height: int = HEIGHT, width: int = WIDTH, square=SQUARE) -> np.ndarray:
    """Gradients (red across, green down, all below 200) and a white square."""
    rows, columns = np.mgrid[0:height, 0:width]
    image = np.stack(
        [
            20 + 160 * columns / (width - 1),
            30 + 150 * rows / (height - 1),
            np.full((height, width), 60.0),
        ],
        axis=-1,
    )
    image = np.rint(image).astype(np.uint8)
    image[square] = 255
    return image


def square_centre(image: np.ndarray) -> tuple[float, float]:
    """(x, y) of the white pixels' centroid."""
    rows, columns = np.nonzero(image.min(axis=-1) > 220)
    assert rows.size, "no square in the frame"
    return columns.mean(), rows.mean()


def smooth(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    image = np.stack(
        [
            128 + 100 * np.sin(columns / 5.0),
            128 + 100 * np.cos(rows / 4.0),
            128 + 60 * np.sin((rows + columns) / 7.0),
        ],
        axis=-1,
    )
    return np.rint(image).astype(np.uint8)


# warp


@pytest.mark.parametrize("border", BORDERS)
def test_the_identity_motion_returns_the_same_bytes(border):
    image = picture()
    out = warp(image, 1.0, 0.0, 0.0, 0.0, border)
    assert out.tobytes() == image.tobytes()
    assert out.dtype == np.uint8 and out.shape == image.shape


def test_translation_x_moves_content_right():
    image = picture()
    out = warp(image, 1.0, 0.0, 5.0, 0.0)
    assert np.array_equal(out[:, 5:], image[:, :-5])
    (x0, y0), (x1, y1) = square_centre(image), square_centre(out)
    assert x1 - x0 == pytest.approx(5) and y1 == pytest.approx(y0)


def test_translation_y_moves_content_down():
    image = picture()
    out = warp(image, 1.0, 0.0, 0.0, 4.0)
    assert np.array_equal(out[4:], image[:-4])
    (x0, y0), (x1, y1) = square_centre(image), square_centre(out)
    assert y1 - y0 == pytest.approx(4) and x1 == pytest.approx(x0)


def test_a_positive_angle_turns_counter_clockwise_about_the_centre():
    size = 40
    image = picture(size, size, (slice(2, 8), slice(30, 36)))  # top right
    centre = (size - 1) / 2
    x0, y0 = square_centre(image)
    dx, dy = x0 - centre, y0 - centre
    # On screen (y down), a quarter turn counter-clockwise takes (dx, dy) to (dy, -dx):
    # top right goes to top left.
    x1, y1 = square_centre(warp(image, 1.0, 90.0, 0.0, 0.0))
    assert (x1, y1) == pytest.approx((centre + dy, centre - dx), abs=0.01)
    assert x1 < centre and y1 < centre
    # ... and a negative angle clockwise: top right goes to bottom right.
    x2, y2 = square_centre(warp(image, 1.0, -90.0, 0.0, 0.0))
    assert (x2, y2) == pytest.approx((centre - dy, centre + dx), abs=0.01)
    # About the geometric centre, a quarter turn of a square frame only moves pixels.
    assert np.array_equal(warp(image, 1.0, 90.0, 0.0, 0.0), np.rot90(image, 1))


def test_zoom_2_fills_the_frame_with_its_centre():
    from skimage.transform import resize

    image = smooth()
    centre_crop = image[
        HEIGHT // 4 : HEIGHT // 4 + HEIGHT // 2, WIDTH // 4 : WIDTH // 4 + WIDTH // 2
    ]
    expected = resize(centre_crop.astype(float), image.shape, order=1, mode="edge")
    out = warp(image, 2.0, 0.0, 0.0, 0.0)
    difference = np.abs(out.astype(float) - expected)
    # The outermost pixels differ: resize repeats the crop's edge where the warp still has
    # the pixels beyond it.
    assert difference.mean() < 0.5 and difference[1:-1, 1:-1].max() <= 1
    assert np.abs(out.astype(float) - image).mean() > 20  # not the frame as it was


def test_the_translation_comes_before_the_zoom_and_rotation_as_in_deforum():
    # Deforum's matrix is rot_mat @ trans_mat: the translation is scaled and turned with the
    # frame, so at zoom 2 a shift of 3 moves content 6 pixels, and after a quarter turn
    # counter-clockwise a shift right moves it up.
    image = picture(square=(slice(11, 16), slice(19, 24)))  # near the centre, to stay in
    centre_x, centre_y = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    x0, y0 = square_centre(image)
    x1, y1 = square_centre(warp(image, 2.0, 0.0, 3.0, 0.0))
    assert (x1, y1) == pytest.approx(
        (centre_x + 2 * (x0 + 3 - centre_x), centre_y + 2 * (y0 - centre_y)), abs=0.01
    )
    size = 40
    square = picture(size, size, (slice(17, 23), slice(17, 23)))  # at the centre
    x0, y0 = square_centre(square)
    x1, y1 = square_centre(warp(square, 1.0, 90.0, 4.0, 0.0))
    assert (x1, y1) == pytest.approx((x0, y0 - 4), abs=0.01)


def test_zoom_below_1_shows_the_border():
    image = picture()
    out = warp(image, 0.5, 0.0, 0.0, 0.0, "replicate")
    # The frame's corners come from beyond the source's edge: replicate gives its corner.
    assert np.array_equal(out[0, 0], image[0, 0]) and np.array_equal(out[-1, -1], image[-1, -1])
    assert square_centre(out)[0] < square_centre(image)[0]  # the square moves in


def test_warp_rounds_rather_than_truncates():
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, ::2] = 3
    out = warp(image, 1.0, 0.0, 0.5, 0.0, "wrap")
    assert np.all(out == 2)  # (0 + 3) / 2 = 1.5 rounds to 2; truncating gives 1


def test_replicate_and_wrap_differ_at_the_border():
    image = picture()
    replicated = warp(image, 1.0, 0.0, 5.0, 0.0, "replicate")
    wrapped = warp(image, 1.0, 0.0, 5.0, 0.0, "wrap")
    # Replicate repeats the left edge; wrap brings the right edge's content in on the left.
    assert np.array_equal(replicated[:, :5], np.repeat(image[:, :1], 5, axis=1))
    assert np.array_equal(wrapped[:, :5], image[:, -5:])
    assert not np.array_equal(replicated[:, :5], wrapped[:, :5])
    assert np.array_equal(replicated[:, 5:], wrapped[:, 5:])


# match_colours


def reference_picture() -> np.ndarray:
    """A redder, darker, bluer frame than picture()."""
    image = smooth().astype(float)
    image[..., 0] = 0.5 * image[..., 0] + 120
    image[..., 1] *= 0.4
    image[..., 2] = 0.3 * image[..., 2] + 170
    return np.rint(image).astype(np.uint8)


@pytest.mark.parametrize("mode", [mode for mode in COLOUR_MATCH if mode != "off"])
def test_match_colours_moves_the_channel_means_toward_the_reference(mode):
    image, reference = picture(), reference_picture()
    out = match_colours(image, reference, mode)
    assert out.dtype == np.uint8 and out.shape == image.shape
    target = reference.reshape(-1, 3).mean(axis=0)
    before = np.abs(image.reshape(-1, 3).mean(axis=0) - target)
    after = np.abs(out.reshape(-1, 3).mean(axis=0) - target)
    assert after.sum() < 0.5 * before.sum(), (before, after)


def test_each_colour_space_gives_its_own_match():
    image, reference = picture(), reference_picture()
    outs = {mode: match_colours(image, reference, mode).tobytes() for mode in COLOUR_MATCH}
    assert len(set(outs.values())) == len(COLOUR_MATCH)


def test_match_colours_off_returns_the_image():
    image = picture()
    assert match_colours(image, reference_picture(), "off").tobytes() == image.tobytes()


def test_match_colours_to_itself_changes_little():
    image = smooth()
    for mode in ("lab", "rgb", "hsv"):
        out = match_colours(image, image, mode)
        assert np.abs(out.astype(int) - image).max() <= 1, mode


# apply_contrast


def test_contrast_clips_rather_than_wraps():
    image = np.full((4, 4, 3), 250, np.uint8)
    assert np.all(apply_contrast(image, 1.2) == 255)  # 300 would wrap to 44


def test_contrast_scales():
    image = np.array([[[100, 3, 0]]], np.uint8)
    assert apply_contrast(image, 0.5).tolist() == [[[50, 2, 0]]]  # 1.5 rounds to 2
    assert apply_contrast(image, 1.0).tobytes() == image.tobytes()


# add_noise


def test_noise_is_the_same_for_a_seed_and_differs_across_seeds():
    image = picture()
    first = add_noise(image, 0.1, seed=7)
    assert first.tobytes() == add_noise(image, 0.1, seed=7).tobytes()
    assert first.tobytes() != add_noise(image, 0.1, seed=8).tobytes()
    assert first.tobytes() != image.tobytes()


def test_noise_has_the_deforum_scale():
    grey = np.full((64, 64, 3), 128, np.uint8)
    amount = 0.1
    out = add_noise(grey, amount, seed=3).astype(float)
    assert out.std() == pytest.approx(amount * 127.5, rel=0.05)
    assert out.mean() == pytest.approx(128, abs=0.5)


def test_noise_clips():
    white = np.full((16, 16, 3), 250, np.uint8)
    out = add_noise(white, 0.05, seed=0)  # std 6.4 levels
    assert out.min() > 200  # nothing wrapped round to dark
    assert (out == 255).mean() > 0.1


def test_no_noise_returns_the_image():
    image = picture()
    assert add_noise(image, 0.0, seed=1).tobytes() == image.tobytes()


# blend


def test_blend_endpoints_and_middle():
    previous, following = picture(), smooth()
    assert blend(previous, following, 0.0).tobytes() == previous.tobytes()
    assert blend(previous, following, 1.0).tobytes() == following.tobytes()
    expected = np.rint((previous.astype(float) + following) / 2).astype(np.uint8)
    assert np.array_equal(blend(previous, following, 0.5), expected)
    assert blend(np.full((1, 1, 3), 10, np.uint8), np.full((1, 1, 3), 20, np.uint8), 0.25)[
        0, 0
    ].tolist() == [12, 12, 12]  # 12.5 rounds to even


def test_blend_of_different_shapes_is_refused():
    with pytest.raises(ValueError, match="shapes"):
        blend(picture(), smooth(16, 16), 0.5)


# names and types


def test_an_unknown_border_is_named():
    with pytest.raises(ValueError, match="'mirror'") as raised:
        warp(picture(), 1.1, 0.0, 0.0, 0.0, border="mirror")
    assert all(name in str(raised.value) for name in BORDERS)


def test_an_unknown_border_is_refused_even_for_the_identity_motion():
    with pytest.raises(ValueError, match="'mirror'"):
        warp(picture(), 1.0, 0.0, 0.0, 0.0, border="mirror")


def test_an_unknown_colour_mode_is_named():
    with pytest.raises(ValueError, match="'ycbcr'") as raised:
        match_colours(picture(), smooth(), "ycbcr")
    assert all(name in str(raised.value) for name in COLOUR_MATCH)


def test_a_float_image_is_refused():
    with pytest.raises(ValueError, match="uint8"):
        apply_contrast(picture().astype(float), 1.0)


@pytest.mark.parametrize(
    "operation",
    [
        lambda image: warp(image, 1.3, 12.0, 2.5, -1.5, "replicate"),
        lambda image: warp(image, 0.8, -30.0, 0.0, 3.0, "wrap"),
        lambda image: match_colours(image, smooth(20, 20), "lab"),
        lambda image: match_colours(image, smooth(20, 20), "hsv"),
        lambda image: match_colours(image, smooth(20, 20), "rgb"),
        lambda image: apply_contrast(image, 0.9),
        lambda image: add_noise(image, 0.2, seed=5),
        lambda image: blend(image, image[::-1], 0.3),
    ],
    ids=["warp", "warp-wrap", "lab", "hsv", "rgb", "contrast", "noise", "blend"],
)
def test_every_operation_returns_uint8_of_the_inputs_shape(operation):
    image = picture()
    out = operation(image)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert out.tobytes() == operation(image).tobytes()  # deterministic


# unwarp


def test_unwarp_moves_a_frame_back_through_the_motions_in_their_order():
    motions = [(1.0, 0.0, -8.0, 6.0), (1.05, -30.0, 0.0, 0.0)]  # they do not commute
    moved = warp(warp(picture(), *motions[0]), *motions[1])
    back = unwarp(moved, motions)
    assert abs(np.subtract(square_centre(back), square_centre(picture()))).max() < 0.6
    wrong_order = unwarp(moved, motions[::-1])
    assert abs(np.subtract(square_centre(wrong_order), square_centre(picture()))).max() > 2
    assert unwarp(picture(), [(1.0, 0.0, 0.0, 0.0)]).tobytes() == picture().tobytes()
