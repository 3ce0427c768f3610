"""Restyled videos (video_init, hybrid optical-flow motion), soundtracks that drive schedules
and play in the MP4, and interpolated frames: rendered with the tiny model."""

from __future__ import annotations

import json
import logging

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from stylesweep.animate import render
from stylesweep.animate.plan import AnimationError, plan_animation, silent_features
from stylesweep.demo import write_demo_clip, write_demo_soundtrack
from stylesweep.files import sha256_file

from .conftest import animation_settings as animation
from .conftest import render_killed

TEXT = {"clip_skip": 1, "emphasis": "a1111", "wrap_length": 20, "pad_conds": False}
MODELS = {"base": {"hash": "b", "key": "vsynth"}}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """The demo's clip (3 s at 8 fps, a cut half-way) and soundtrack (3 s, 120 bpm)."""
    folder = tmp_path_factory.mktemp("media")
    return {
        "clip": write_demo_clip(folder / "clip.mp4"),
        "track": write_demo_soundtrack(folder / "track.wav"),
        "short": write_demo_soundtrack(folder / "short.wav", seconds=0.5),
    }


def restyle(out_dir, tiny_model, video_file=None, sound_file=None, **overrides):
    settings = {"zoom": "0: (1)", "angle": "0: (0)", "fps": 8, **overrides}
    return render.render_animation(
        name="a", settings=animation(**settings),
        models={"base": {"checkpoint": None, "key": "vsynth"}}, base_dir=tiny_model,
        base_hash="tiny", text=TEXT, out_dir=out_dir, video=video_file, soundtrack=sound_file,
    )  # fmt: skip


def streams(path):
    """{kind: (codec, seconds decoded, frames decoded)} of an MP4."""
    found = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            frames = list(container.decode(stream))
            if stream.type == "video":
                seconds = len(frames) / float(stream.average_rate)
            else:
                seconds = sum(frame.samples for frame in frames) / stream.rate
            found[stream.type] = (stream.codec_context.name, seconds, len(frames))
            container.seek(0)
    return found


def test_a_restyled_clip_takes_the_clips_length_and_starts_each_frame_from_it(
    tiny_model, tmp_path, media, monkeypatch
):
    starts = {}
    diffuse = render.diffuse

    def spy(renderer, recipe, name, size, text, start):
        starts[recipe["frame"]] = start
        return diffuse(renderer, recipe, name, size, text, start)

    monkeypatch.setattr(render, "diffuse", spy)
    # all of each start is the clip's frame, and nothing changes it before img2img
    made = restyle(tmp_path, tiny_model, video_file=media["clip"], max_frames=None,
                   video_init="clip.mp4", extract_nth_frame=3, hybrid_comp_alpha=1.0,
                   colour_match="off", noise=0, hybrid_motion="optical_flow")  # fmt: skip
    assert made["frames"] == 8  # 24 frames at 8 fps, every third
    assert made["clip"]["decoded"] == 24 and made["clip"]["sha256"] == sha256_file(media["clip"])
    assert all(recipe["hybrid_comp_alpha"] == 1.0 for recipe in made["recipes"])
    with av.open(str(media["clip"])) as container:
        clip = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    for frame in range(8):  # frame N starts from the clip's frame at 3N / 8 s: its 3N-th
        expected = np.asarray(ImageOps.fit(Image.fromarray(clip[3 * frame]), (64, 64),
                                           Image.Resampling.LANCZOS))  # fmt: skip
        assert np.array_equal(starts[frame], expected), frame


def test_a_killed_restyle_resumes_with_the_same_bytes(tiny_model, tmp_path, media, monkeypatch):
    settings = {"video_init": "clip.mp4", "hybrid_motion": "optical_flow", "max_frames": 8,
                "cadence": 2, "zoom": "0: (1.02)"}  # fmt: skip
    restyle(tmp_path / "whole", tiny_model, video_file=media["clip"], **settings)
    clip = media["clip"]
    render_killed(
        monkeypatch, 3, lambda: restyle(tmp_path / "killed", tiny_model, clip, **settings)
    )
    resumed = restyle(tmp_path / "killed", tiny_model, video_file=media["clip"], **settings)
    # saved: 0, 2 (diffused) and 1 (between them); rendered again: 4, 6, 7 (and 3, 5)
    assert resumed["reused"] == 2 and resumed["rendered"] == 3
    for frame in range(8):
        path = render.frame_path
        assert (
            path(tmp_path / "killed", frame).read_bytes()
            == path(tmp_path / "whole", frame).read_bytes()
        ), frame
    assert sha256_file(tmp_path / "killed" / "animation.mp4") == sha256_file(
        tmp_path / "whole" / "animation.mp4"
    )


def test_the_flow_carries_the_previous_frame(tiny_model, tmp_path, media):
    """With hybrid motion the frames between two diffused ones follow the clip's motion."""
    settings = {"video_init": "clip.mp4", "max_frames": 3, "cadence": 2}
    still = restyle(tmp_path / "still", tiny_model, video_file=media["clip"], **settings)
    flowing = restyle(tmp_path / "flow", tiny_model, video_file=media["clip"],
                      hybrid_motion="optical_flow", **settings)  # fmt: skip
    assert still["recipes"][0]["shared"] != flowing["recipes"][0]["shared"]  # all rerendered
    between = [render.load_frame(tmp_path / name, 1) for name in ("still", "flow")]
    assert not np.array_equal(*between)


def test_the_soundtrack_plays_in_the_mp4_trimmed_to_the_video(tiny_model, tmp_path, media):
    made = restyle(tmp_path, tiny_model, sound_file=media["track"], max_frames=6,
                   soundtrack="track.wav")  # fmt: skip
    found = streams(tmp_path / "animation.mp4")
    assert found["video"][0] == "h264" and found["audio"][0] == "aac"
    assert found["audio"][1] == pytest.approx(6 / 8, abs=0.05)  # the track lasts 3 s
    assert made["soundtrack"]["seconds"] == pytest.approx(3.0, abs=0.01)
    assert set(made["soundtrack"]["features"]) == {"amp", "onset", "beat"}


def test_a_short_soundtrack_ends_early_with_a_warning(tiny_model, tmp_path, media, caplog):
    with caplog.at_level(logging.WARNING):
        restyle(tmp_path, tiny_model, sound_file=media["short"], max_frames=8,
                soundtrack="short.wav")  # fmt: skip
    assert "animate.animations.a.soundtrack" in caplog.text and "ends early" in caplog.text
    assert streams(tmp_path / "animation.mp4")["audio"][1] == pytest.approx(0.5, abs=0.05)


def test_a_beat_schedule_moves_on_the_beats(tiny_model, tmp_path, media):
    made = restyle(tmp_path, tiny_model, sound_file=media["track"], max_frames=16,
                   soundtrack="track.wav", zoom="0: (1 + 0.1*beat)", steps=1)  # fmt: skip
    beats = np.flatnonzero(made["soundtrack"]["features"]["beat"])
    zoomed = [recipe["frame"] for recipe in made["recipes"] if recipe["zoom"] > 1]
    assert zoomed == beats.tolist()
    # the demo's track has a kick every half second: every fourth frame at 8 fps
    assert len(beats) >= 3 and set(np.diff(beats)) <= {3, 4, 5}


@pytest.mark.parametrize("between", [1, 2])
def test_interpolation_multiplies_the_frames_and_the_rate(tiny_model, tmp_path, between):
    made = restyle(tmp_path, tiny_model, max_frames=3, interpolate=between)
    expected = (3 - 1) * (between + 1) + 1
    assert made["rendered"] == 3 and made["video_frames"] == expected
    assert made["video_fps"] == 8 * (between + 1)
    found = streams(tmp_path / "animation.mp4")
    assert found["video"][2] == expected
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["video_frames"] == expected


def test_a_schedule_naming_beat_without_a_soundtrack_is_refused():
    settings = animation(zoom="0: (1 + 0.1*beat)")
    with pytest.raises(AnimationError, match=r"animate\.animations\.a\.zoom.*'beat'.*soundtrack"):
        plan_animation("a", settings, MODELS, common={})
    with_track = animation(zoom="0: (1 + 0.1*beat)", soundtrack="track.wav")
    audio = silent_features(3)
    audio["beat"][1] = 1.0
    plan = plan_animation("a", with_track, MODELS, {}, audio=audio)
    assert [recipe["zoom"] for recipe in plan] == pytest.approx([1.0, 1.1, 1.0])


@pytest.mark.parametrize("key", ["video", "sound"])
def test_a_file_that_cannot_be_read_is_named_before_any_frame(tiny_model, tmp_path, key):
    broken = tmp_path / ("clip.mp4" if key == "video" else "track.wav")
    broken.write_text("not a medium")
    setting = "video_init" if key == "video" else "soundtrack"
    with pytest.raises(AnimationError) as error:
        restyle(tmp_path / "out", tiny_model, **{f"{key}_file": broken, setting: broken.name})
    message = str(error.value)
    assert message.startswith(f"animate.animations.a.{setting}: ") and str(broken) in message
    assert "\n" not in message
    assert not (tmp_path / "out" / render.FRAMES).exists()


def test_the_demos_clip_is_where_its_name_says():
    from stylesweep.sources import DEMO_CLIP

    from .conftest import REPO

    script = (REPO / "scripts" / "make_demo_stills.py").read_text()
    assert f'/ "{DEMO_CLIP}")' in script


def test_the_plan_counts_a_clips_frames_before_it_is_read(media, tmp_path):
    from stylesweep.plan.disk import animation_frames

    clip = str(media["clip"])  # 3 s
    assert animation_frames(animation(max_frames=None, video_init=clip, fps=8), "x") == 24
    assert (
        animation_frames(
            animation(max_frames=None, video_init=clip, fps=8, extract_nth_frame=2), "x"
        )
        == 12
    )
    assert animation_frames(animation(max_frames=5, video_init=clip), "x") == 5
    # the demo's clip before its rule has made it: a guess, the length without a clip
    assert animation_frames(animation(max_frames=None, video_init="stills:a.mp4"), "x") == 24


def test_clip_frames_follow_the_clips_clock(media):
    from stylesweep.animate.source import clip_frames

    whole, decoded = clip_frames(media["clip"], fps=8, nth=1, size=16)
    assert decoded == 24 and len(whole) == 24  # 3 s at the clip's own 8 fps
    half, _ = clip_frames(media["clip"], fps=4, nth=1, size=16)  # every other frame
    assert len(half) == 12 and all(np.array_equal(half[n], whole[2 * n]) for n in range(12))
    fast, _ = clip_frames(media["clip"], fps=8, nth=3, size=16)
    assert len(fast) == 8 and all(np.array_equal(fast[n], whole[3 * n]) for n in range(8))
    slow, _ = clip_frames(media["clip"], fps=16, nth=1, size=16)  # each frame shown twice
    assert len(slow) == 48 and np.array_equal(slow[5], whole[2])
    longer, _ = clip_frames(media["clip"], fps=8, nth=1, size=16, frames=30)
    assert len(longer) == 30 and np.array_equal(longer[29], whole[23])  # held at the end
    first, decoded = clip_frames(media["clip"], fps=8, nth=1, size=16, frames=2)
    assert len(first) == 2 and decoded < 24  # stops decoding once it has what it needs
