"""Frames from videos in the stills folder: when they are taken, which are dropped and why,
what the manifest says, on tiny clips made here (H.264 through PyAV, as the demo's)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from stylesweep.captions import read_sidecars
from stylesweep.dataset import DatasetError, prepare_dataset
from stylesweep.settings import VideoSettings
from stylesweep.video_stills import (
    FrameChooser,
    dhash,
    evenly,
    hash_distance,
    laplacian_variance,
)

av = pytest.importorskip("av")

# the fixtures are small on purpose
pytestmark = pytest.mark.filterwarnings("ignore:only . usable image")

SIZE = 64


def settings(**changes) -> dict:
    """The config keys, every frame kept unless a test turns a filter on."""
    keys = {
        "video_every_seconds": 0.5,
        "video_scene_threshold": None,
        "video_max_frames": 100,
        "blur_threshold": 0,
        "dedupe_distance": None,
    }
    return {**keys, **changes}


def blocks(seed: int, size: int = SIZE) -> np.ndarray:
    """A sharp picture of 8 x 8 random colour blocks: each seed looks unlike the others."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.kron(cells, np.ones((size // 8, size // 8, 1), dtype=np.uint8))


def write_clip(path, frames: list[np.ndarray], fps: int = 10) -> None:
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "threads": "1"}
        for pixels in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())


def frames_of(manifest: dict, source: str) -> list[dict]:
    return [image for image in manifest["images"] if image["source"] == source]


def dropped_of(manifest: dict, source: str) -> list[dict]:
    return [entry for entry in manifest["dropped"] if entry["source"] == source]


@pytest.fixture
def folder(tmp_path):
    stills = tmp_path / "stills"
    stills.mkdir()
    return stills


def test_a_frame_every_n_seconds_with_its_time(folder, tmp_path):
    write_clip(folder / "my clip.mp4", [blocks(i) for i in range(20)], fps=10)  # 2 s
    (folder / "my clip.txt").write_text("a caption for every frame")
    out = tmp_path / "out"
    manifest = prepare_dataset(folder, out, SIZE, "center", settings())
    frames = frames_of(manifest, "my clip.mp4")
    assert [f["time"] for f in frames] == [0.0, 0.5, 1.0, 1.5]
    assert all(f["taken"] == "every 0.5 s" for f in frames)
    assert [f["file"] for f in frames] == [
        "my_clip_000000ms.png", "my_clip_000500ms.png", "my_clip_001000ms.png",
        "my_clip_001500ms.png",
    ]  # fmt: skip
    captions = {e["file"]: e["training_caption"] for e in read_sidecars(frames, folder)}
    assert set(captions.values()) == {"a caption for every frame"}  # every frame's
    assert frames[0]["filename_caption"] == "my clip" and frames[0]["original_size"] == [64, 64]
    for frame in frames:
        with Image.open(out / frame["file"]) as image:
            assert image.size == (SIZE, SIZE) and image.mode == "RGB"
    assert sorted(p.name for p in out.iterdir()) == sorted(  # nothing waiting is left behind
        [frame["file"] for frame in frames] + ["manifest.json"]
    )
    (video,) = manifest["videos"]
    assert video["source"] == "my clip.mp4" and video["fps"] == 10 and video["duration"] == 2.0
    assert (video["frames_decoded"], video["frames_taken"], video["frames_kept"]) == (20, 4, 4)
    assert manifest["video"] == settings() and not manifest["dropped"]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    # the frame at 1.0 s is the eleventh picture (H.264 keeps its blocks recognisable)
    with Image.open(out / frames[2]["file"]) as image:
        assert hash_distance(dhash(image), dhash(Image.fromarray(blocks(10)))) <= 4


def test_a_phone_video_comes_out_upright(tmp_path):
    """A display matrix turning the stored frame a quarter counterclockwise, as a player
    (and ffmpeg's autorotate) shows it: the top-left corner goes to the bottom left."""
    from stylesweep.video_stills import Video, read_frames

    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix")
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:8, :8] = 255
    with av.open(str(tmp_path / "phone.mp4"), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    frame = next(read_frames(Video(tmp_path / "phone.mp4"), 1.0, None))
    assert frame.image.size == (32, 64)
    rows, columns = np.nonzero(np.asarray(frame.image)[:, :, 0] > 128)
    assert rows.min() >= 48 and columns.max() < 16


def test_frame_times_on_a_clip_that_misses_the_marks():
    """7 frames per second never land on 0.5 s: the first frame at or after each mark."""
    chooser = FrameChooser(every_seconds=0.5, scene_threshold=None)
    taken = [i / 7 for i in range(21) if chooser.reasons(i / 7, None)]
    assert np.allclose(taken, [0, 4 / 7, 1, 11 / 7, 2, 18 / 7])


def test_a_hard_cut_is_found(folder, tmp_path):
    """A slowly panning picture, then another one: one frame per scene, none for the pan."""
    first, second = blocks(1, 128), blocks(2, 128)
    frames = [first[:64, i : i + 64] for i in range(12)] + [
        second[:64, i : i + 64] for i in range(8)
    ]
    write_clip(folder / "cut.mp4", frames, fps=10)
    found = settings(video_every_seconds=None, video_scene_threshold=0.3)
    manifest = prepare_dataset(folder, tmp_path / "out", SIZE, "center", found)
    taken = [(f["time"], f["taken"].split(" (")[0]) for f in frames_of(manifest, "cut.mp4")]
    assert taken == [(0.0, "first scene"), (1.2, "scene change")]


def test_the_demo_clip_has_its_cut_half_way(folder, tmp_path):
    from stylesweep.demo import write_demo_clip

    write_demo_clip(folder / "vsynth.mp4")
    with av.open(str(folder / "vsynth.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.frames == 24 and stream.average_rate == 8
    assert (
        write_demo_clip(tmp_path / "again.mp4").read_bytes() == (folder / "vsynth.mp4").read_bytes()
    )
    cuts = settings(video_every_seconds=None, video_scene_threshold=0.3)
    manifest = prepare_dataset(folder, tmp_path / "out", SIZE, "center", cuts)
    assert [f["time"] for f in manifest["images"]] == [0.0, 1.5]


def test_a_clip_of_one_picture_gives_one_frame_and_a_still_wins_over_a_frame(folder, tmp_path):
    still = blocks(3)
    write_clip(folder / "hold.mp4", [still] * 20, fps=10)
    dedupe = settings(dedupe_distance=6)
    manifest = prepare_dataset(folder, tmp_path / "a", SIZE, "center", dedupe)
    assert [f["time"] for f in frames_of(manifest, "hold.mp4")] == [0.0]
    dropped = dropped_of(manifest, "hold.mp4")
    assert [d["time"] for d in dropped] == [0.5, 1.0, 1.5]
    assert all(d["reason"].startswith("near-duplicate of hold.mp4 at 0.000 s") for d in dropped)

    Image.fromarray(still).save(folder / "still.png")  # the artist's own still of it
    write_clip(folder / "other.mp4", [blocks(4)] * 3 + [still] * 2, fps=10)  # ends on it
    manifest = prepare_dataset(
        folder, tmp_path / "b", SIZE, "center", {**dedupe, "video_every_seconds": 0.3}
    )
    assert [i["source"] for i in manifest["images"]] == ["still.png", "other.mp4"]
    reasons = {(d["source"], d["time"]): d["reason"] for d in manifest["dropped"]}
    assert reasons[("hold.mp4", 0.0)].startswith("near-duplicate of still.png (hash distance")
    assert reasons[("other.mp4", 0.3)].startswith("near-duplicate of still.png")
    assert {"source": "hold.mp4", "reason": "video: all 7 frames taken were dropped (7 "
            "near-duplicates)"} in manifest["skipped"]  # fmt: skip
    # with the filter off every frame stays
    manifest = prepare_dataset(folder, tmp_path / "c", SIZE, "center", settings())
    assert len(frames_of(manifest, "hold.mp4")) == 4 and not manifest["dropped"]


def test_a_blurred_frame_is_dropped(folder, tmp_path):
    sharp = [blocks(i) for i in range(20)]
    blurred = Image.fromarray(sharp[10]).filter(ImageFilter.GaussianBlur(4))
    sharp[10] = np.asarray(blurred)
    write_clip(folder / "soft.mp4", sharp, fps=10)
    manifest = prepare_dataset(
        folder, tmp_path / "out", SIZE, "center", settings(blur_threshold=20)
    )
    assert [f["time"] for f in manifest["images"]] == [0.0, 0.5, 1.5]
    (dropped,) = manifest["dropped"]
    assert dropped["time"] == 1.0 and dropped["reason"].startswith("blurred: variance of the")
    assert laplacian_variance(blurred) < 20 < laplacian_variance(Image.fromarray(sharp[0]))


def test_the_cap_keeps_frames_spread_over_the_video(folder, tmp_path):
    write_clip(folder / "long.mp4", [blocks(i) for i in range(40)], fps=10)  # 8 candidates
    manifest = prepare_dataset(
        folder, tmp_path / "out", SIZE, "center", settings(video_max_frames=3)
    )
    assert [f["time"] for f in manifest["images"]] == [0.0, 2.0, 3.5]
    assert len(manifest["dropped"]) == 5
    assert all(d["reason"].startswith("over video_max_frames") for d in manifest["dropped"])
    assert manifest["videos"][0]["frames_kept"] == 3
    assert evenly(8, 3) == [0, 4, 7] and evenly(2, 5) == [0, 1] and evenly(5, 1) == [0]


def test_a_corrupt_video_is_skipped_with_its_reason(folder, tmp_path):
    Image.fromarray(blocks(0)).save(folder / "still.png")
    (folder / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\x17" * 200)
    write_clip(folder / "cut off.mp4", [blocks(i) for i in range(10)])
    data = (folder / "cut off.mp4").read_bytes()
    (folder / "cut off.mp4").write_bytes(data[: len(data) // 2])  # its index is at the end
    manifest = prepare_dataset(folder, tmp_path / "out", SIZE, "center", settings())
    skipped = {entry["source"]: entry["reason"] for entry in manifest["skipped"]}
    assert set(skipped) == {"broken.mov", "cut off.mp4"}
    assert all(reason.startswith("video unreadable: ") for reason in skipped.values())
    assert str(folder) not in json.dumps(manifest)  # reasons name files relatively
    assert [image["source"] for image in manifest["images"]] == ["still.png"]
    assert not manifest["videos"]


def test_a_cut_off_matroska_file_keeps_its_frames_with_a_note(folder, tmp_path):
    with av.open(str(folder / "clip.mkv"), mode="w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(blocks(i), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    data = (folder / "clip.mkv").read_bytes()
    (folder / "clip.mkv").write_bytes(data[: len(data) // 2])
    manifest = prepare_dataset(folder, tmp_path / "out", SIZE, "center", settings())
    (video,) = manifest["videos"]
    assert 0 < video["frames_decoded"] < 30 and "may be cut off" in video["note"]
    assert manifest["images"][0]["note"] == video["note"]


def test_a_video_whose_frames_are_all_dropped_is_reported(folder, tmp_path):
    write_clip(folder / "flat.mp4", [np.full((SIZE, SIZE, 3), 90, np.uint8)] * 10)
    strict = settings(blur_threshold=20)
    with pytest.raises(DatasetError) as error:
        prepare_dataset(folder, tmp_path / "out", SIZE, "center", strict)
    assert "flat.mp4: video: all 2 frames taken were dropped (2 blurred)" in str(error.value)
    Image.fromarray(blocks(0)).save(folder / "still.png")
    manifest = prepare_dataset(folder, tmp_path / "out", SIZE, "center", strict)
    assert manifest["skipped"] == [
        {"source": "flat.mp4", "reason": "video: all 2 frames taken were dropped (2 blurred)"}
    ]
    assert [d["time"] for d in manifest["dropped"]] == [0.0, 0.5]
    assert manifest["videos"][0]["frames_kept"] == 0


def test_an_animated_gif_is_a_video_when_videos_are_read(folder, tmp_path):
    pictures = [Image.fromarray(blocks(i)) for i in range(6)]
    pictures[0].save(folder / "loop.gif", save_all=True, append_images=pictures[1:], duration=250)
    Image.fromarray(blocks(9)).save(folder / "still.gif")
    manifest = prepare_dataset(folder, tmp_path / "a", SIZE, "center", settings())
    assert [(i["source"], i.get("time")) for i in manifest["images"]] == [
        ("still.gif", None), ("loop.gif", 0.0), ("loop.gif", 0.5), ("loop.gif", 1.0),
    ]  # fmt: skip
    # without video settings (or with both ways of taking frames off) it is a still
    for video in (None, settings(video_every_seconds=None)):
        manifest = prepare_dataset(folder, tmp_path / "b", SIZE, "center", video)
        assert [i["source"] for i in manifest["images"]] == ["loop.gif", "still.gif"]


def test_videos_are_skipped_when_no_frame_would_be_taken(folder, tmp_path):
    Image.fromarray(blocks(0)).save(folder / "still.png")
    write_clip(folder / "clip.mp4", [blocks(1)] * 5)
    manifest = prepare_dataset(
        folder, tmp_path / "out", SIZE, "center", settings(video_every_seconds=None)
    )
    assert manifest["skipped"][0]["reason"].startswith("video: not read (dataset.video_every")


def test_settings_are_read_strictly():
    assert VideoSettings.from_config(settings()).as_config() == settings()
    wrong = {key: value for key, value in settings().items() if key != "dedupe_distance"}
    with pytest.raises(ValueError, match=r"missing \['dedupe_distance'\], unknown \['x'\]"):
        VideoSettings.from_config({**wrong, "x": 1})


def test_hash_and_blur_measures():
    picture = Image.fromarray(blocks(5))
    assert hash_distance(dhash(picture), dhash(picture.filter(ImageFilter.GaussianBlur(1)))) <= 6
    assert hash_distance(dhash(picture), dhash(Image.fromarray(blocks(6)))) > 16
    assert laplacian_variance(Image.new("RGB", (32, 32), (50, 60, 70))) == 0
