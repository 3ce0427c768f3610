import json
import os
import re
import sys

import numpy as np
import PIL
import pytest
from PIL import Image

from stylesweep.captions import CaptionError, read_sidecars
from stylesweep.dataset import DatasetError, prepare_dataset, smart_square

# the fixtures are small on purpose; one test checks that warning itself
pytestmark = pytest.mark.filterwarnings("ignore:only . usable image")


@pytest.fixture
def stills(tmp_path):
    folder = tmp_path / "stills"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (300, 200), (255, 0, 0)).save(folder / "wide.png")
    Image.new("RGB", (120, 240), (0, 255, 0)).save(folder / "tall.jpg")
    Image.new("RGBA", (100, 100), (0, 0, 255, 0)).save(folder / "sub" / "alpha.png")
    Image.new("RGB", (90, 90), (9, 9, 9)).save(folder / "frame.webp")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "clip.mp4").write_bytes(b"\x00" * 16)
    (folder / "notes.md").write_text("hello")
    (folder / "wide.txt").write_text("a caption")  # a sidecar caption, neither kept nor skipped
    return folder


def test_prepare_dataset_converts_crops_and_records_everything(stills, tmp_path):
    out = tmp_path / "dataset"
    manifest = prepare_dataset(stills, out, resolution=64, crop="center")
    kept = {entry["source"]: entry for entry in manifest["images"]}
    assert set(kept) == {"wide.png", "tall.jpg", "sub/alpha.png", "frame.webp"}
    for entry in manifest["images"]:
        with Image.open(out / entry["file"]) as image:
            assert image.size == (64, 64) and image.mode == "RGB"
        assert len(entry["sha256"]) == 64
    assert kept["wide.png"]["original_size"] == [300, 200]
    # transparency is flattened onto white
    assert Image.open(out / kept["sub/alpha.png"]["file"]).getpixel((5, 5)) == (255, 255, 255)
    skipped = {entry["source"]: entry["reason"] for entry in manifest["skipped"]}
    assert set(skipped) == {"broken.png", "clip.mp4", "notes.md"}
    assert skipped["broken.png"].startswith("unreadable image")
    assert "video" in skipped["clip.mp4"]
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_validation_stills_are_chosen_by_content_and_left_out_of_training(stills, tmp_path):
    from stylesweep.dataset import training_images

    manifest = prepare_dataset(stills, tmp_path / "a", resolution=64, crop="center",
                               validation_count=2)  # fmt: skip
    held = [e for e in manifest["images"] if e.get("validation")]
    assert sorted(e["sha256"] for e in held) == sorted(e["sha256"] for e in manifest["images"])[:2]
    kept = training_images(manifest["images"])
    assert len(kept) == 2 and not any(manifest["images"][i].get("validation") for i in kept)
    # a new still leaves the choice alone unless it sorts before the held-out ones
    Image.new("RGB", (64, 64), (1, 2, 3)).save(stills / "new.png")
    again = prepare_dataset(stills, tmp_path / "b", resolution=64, crop="center",
                            validation_count=2)  # fmt: skip
    new = next(e for e in again["images"] if e["source"] == "new.png")
    held_again = {e["source"] for e in again["images"] if e.get("validation")}
    if new["sha256"] > max(e["sha256"] for e in held):
        assert held_again == {e["source"] for e in held}
    with pytest.raises(DatasetError, match="dataset.validation_count is 5 but the stills give 5"):
        prepare_dataset(stills, tmp_path / "c", resolution=64, crop="center", validation_count=5)


def test_an_empty_or_missing_stills_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        prepare_dataset(tmp_path / "nope", tmp_path / "out", 64, "center")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no usable image"):
        prepare_dataset(tmp_path / "empty", tmp_path / "out", 64, "center")


def test_smart_crop_keeps_the_detailed_side():
    pixels = np.zeros((100, 300, 3), dtype=np.uint8)
    pixels[:, 220:300:4] = 255  # stripes on the right third only
    box = smart_square(Image.fromarray(pixels))
    assert box[2] - box[0] == 100 and box[0] >= 150


def test_same_input_gives_same_bytes(stills, tmp_path):
    a = prepare_dataset(stills, tmp_path / "a", 64, "smart")
    b = prepare_dataset(stills, tmp_path / "b", 64, "smart")
    for entry in a["images"]:
        assert (tmp_path / "a" / entry["file"]).read_bytes() == (
            tmp_path / "b" / entry["file"]
        ).read_bytes()
    assert a == b


def test_captions_from_file_names_and_sidecars(stills, tmp_path):
    from stylesweep.dataset import filename_caption

    assert filename_caption("vsynth (3)") == "vsynth"
    assert filename_caption("vsynth_03") == "vsynth"
    assert filename_caption("my_style-12") == "my style"
    assert filename_caption("neon grid") == "neon grid"
    manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")
    read = read_sidecars(manifest["images"], stills)
    captions = {entry["source"]: entry["training_caption"] for entry in read}
    assert captions["wide.png"] == "a caption" and captions["tall.jpg"] is None


def test_sidecar_captions_with_a_byte_order_mark_or_bad_bytes(tmp_path, caplog):
    stills = tmp_path / "stills"
    (stills / "sub").mkdir(parents=True)
    for name in ("bom", "empty", "sub/latin"):
        Image.new("RGB", (80, 80), (len(name), 0, 0)).save(stills / f"{name}.png")
    (stills / "bom.txt").write_bytes("\ufeffneon grid\r\n".encode())  # as Notepad saves it
    (stills / "empty.txt").write_bytes(b" \n")
    (stills / "sub" / "latin.caption").write_bytes(b"caf\xe9 lights")  # Latin-1, not UTF-8
    # its accent would train as U+FFFD: the file is named with the fix
    fix = r"save it as UTF-8 in your editor, or move it away if it is not the caption"
    manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")  # captions: not its job
    with pytest.raises(CaptionError, match=rf"^caption file sub/latin\.caption is not UTF-8 "
                       rf"\(byte 0xe9 at position 3\); {fix}"):  # fmt: skip
        read_sidecars(manifest["images"], stills)
    (stills / "sub" / "latin.caption").write_text("café lights", encoding="utf-8")
    with caplog.at_level("WARNING"):
        read = read_sidecars(manifest["images"], stills)
    captions = {entry["source"]: entry["training_caption"] for entry in read}
    assert captions == {"bom.png": "neon grid", "empty.png": "", "sub/latin.png": "café lights"}
    assert "caption file empty.txt is empty: its image has no caption from it" in caplog.text


def test_training_on_sidecars_names_the_stills_with_an_empty_or_no_caption_file(caplog):
    from stylesweep.train import captions_for
    from tests.conftest import train_settings

    settings = train_settings(captions="sidecar", instance_prompt="{key} style", key="vsynth")
    images = [
        {"file": "a.png", "source": "a.png", "training_caption": "neon"},
        {"file": "empty.png", "source": "empty.png", "training_caption": ""},
        {"file": "clip_0.png", "source": "clip.mp4", "training_caption": None},  # two frames
        {"file": "clip_1.png", "source": "clip.mp4", "training_caption": None},  # of a video
    ]
    with caplog.at_level("WARNING"):
        captions = captions_for(settings, images, images)
    assert captions == ["neon", "vsynth style", "vsynth style", "vsynth style"]
    assert (
        "1 stills have an empty caption file (empty.png); they use 'vsynth style': write their "
        "captions in them" in caplog.text
    )
    assert "1 stills have no caption file (clip.mp4); they use 'vsynth style'" in caplog.text


def test_avif_stills_are_read_and_heic_stills_are_skipped_with_the_fix(tmp_path):
    from stylesweep.dataset import reads_avif

    stills = tmp_path / "stills"
    stills.mkdir()
    Image.new("RGB", (80, 80), (200, 30, 30)).save(stills / "red.png")
    (stills / "phone.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(16))
    avif = reads_avif()
    if avif:  # Pillow 11.2 and later write AVIF too
        Image.new("RGB", (80, 60), (30, 30, 200)).save(stills / "blue.avif")
    manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")
    skipped = {entry["source"]: entry["reason"] for entry in manifest["skipped"]}
    assert skipped["phone.HEIC"].startswith("HEIC/HEIF image (.heic): Pillow reads it only with")
    assert skipped["phone.HEIC"].endswith("convert it to PNG, JPEG or AVIF")
    if not avif:
        pytest.skip(f"this Pillow ({PIL.__version__}) cannot write AVIF; the HEIC part passed")
    kept = {entry["source"]: entry for entry in manifest["images"]}
    assert kept["blue.avif"]["original_size"] == [80, 60] and "blue.avif" not in skipped
    with Image.open(tmp_path / "out" / kept["blue.avif"]["file"]) as image:
        assert image.size == (64, 64)
        red, green, blue = image.getpixel((32, 32))
        assert blue > 150 and red < 80  # lossy, but blue


def test_a_one_image_dataset_is_warned_about(tmp_path):
    (tmp_path / "one").mkdir()
    Image.new("RGB", (80, 80), (1, 2, 3)).save(tmp_path / "one" / "a.png")
    with pytest.warns(UserWarning, match="only 1 usable image.*add stills"):
        prepare_dataset(tmp_path / "one", tmp_path / "out", 64, "center")


def _gradient(low: float, high: float, size: int = 128) -> np.ndarray:
    return np.tile(np.linspace(low, high, size), (size, 1))


def _blend_on_white(grey: np.ndarray, alpha: np.ndarray) -> float:
    return float((grey * alpha / 255 + 255 * (1 - alpha / 255)).mean())


def _source(mode: str) -> tuple[Image.Image, str, float]:
    """A 128 px square still in `mode`, the suffix that keeps the mode, and its mean brightness
    on a 0..255 scale by the rule the dataset documents."""
    sixteen = _gradient(10_000, 50_000).astype(np.uint16)
    skewed = _gradient(0, 1) ** 2  # own-range scaling of this gives a mean of 255 / 3
    alpha = _gradient(0, 255).T.round()
    if mode == "I;16":
        return Image.fromarray(sixteen), ".png", sixteen.mean() / 65535 * 255
    if mode == "I;16B":
        image = Image.frombytes("I;16B", (128, 128), sixteen.astype(">u2").tobytes())
        return image, ".tiff", sixteen.mean() / 65535 * 255
    if mode == "I 16-bit values":
        return Image.fromarray(sixteen.astype(np.int32)), ".tiff", sixteen.mean() / 65535 * 255
    if mode == "I wide values":
        values = (skewed * 3_000_000 - 1000).astype(np.int32)
        return (
            Image.fromarray(values),
            ".tiff",
            (values - values.min()).mean() / np.ptp(values) * 255,
        )
    if mode == "F fractions":
        return Image.fromarray(_gradient(0.2, 0.6).astype(np.float32)), ".tiff", 0.4 * 255
    if mode == "F 8-bit values":
        return Image.fromarray(_gradient(20, 200).astype(np.float32)), ".tiff", 110
    if mode == "F wide values":
        return (
            Image.fromarray((skewed * 1000 + 500).astype(np.float32)),
            ".tiff",
            skewed.mean() * 255,
        )
    if mode == "LA":
        grey = _gradient(0, 200).round()
        pixels = np.stack([grey, alpha], axis=-1).astype(np.uint8)
        return Image.fromarray(pixels, "LA"), ".png", _blend_on_white(grey, alpha)
    if mode == "P with transparency":
        bands = (np.arange(128) // 32).astype(np.uint8)[None, :].repeat(128, axis=0)
        image = Image.fromarray(bands, "P")  # four bands: transparent, then greys 80, 160, 240
        image.putpalette([0, 0, 0, 80, 80, 80, 160, 160, 160, 240, 240, 240])
        return image, ".png", (255 + 80 + 160 + 240) / 4
    if mode == "1":
        checker = (np.indices((128, 128)) // 16).sum(axis=0) % 2 == 0
        return Image.fromarray(checker), ".png", 127.5
    if mode == "L":
        return Image.fromarray(_gradient(30, 220).astype(np.uint8)), ".png", 125
    if mode == "CMYK":
        black = _gradient(0, 200).astype(np.uint8)
        cmyk = np.stack([np.zeros_like(black)] * 3 + [black], axis=-1)
        return Image.fromarray(cmyk, "CMYK"), ".tiff", 255 - black.mean()
    if mode == "RGBA":
        grey = _gradient(0, 200).round()
        pixels = np.stack([grey, grey, grey, alpha], axis=-1).astype(np.uint8)
        return Image.fromarray(pixels, "RGBA"), ".png", _blend_on_white(grey, alpha)
    raise AssertionError(mode)


MODES = [
    "I;16",
    "I;16B",
    "I 16-bit values",
    "I wide values",
    "F fractions",
    "F 8-bit values",
    "F wide values",
    "LA",
    "P with transparency",
    "1",
    "L",
    "CMYK",
    "RGBA",
]


@pytest.mark.parametrize("case", MODES)
def test_every_image_mode_keeps_its_brightness(case, tmp_path):
    image, suffix, expected = _source(case)
    (tmp_path / "stills").mkdir()
    path = tmp_path / "stills" / f"still{suffix}"
    image.save(path, transparency=0) if case == "P with transparency" else image.save(path)
    with Image.open(path) as check:  # the file really is in the mode under test
        assert check.mode == case.split()[0]
    manifest = prepare_dataset(tmp_path / "stills", tmp_path / "out", 64, "center")
    with Image.open(tmp_path / "out" / manifest["images"][0]["file"]) as prepared:
        assert prepared.mode == "RGB" and prepared.size == (64, 64)
        brightness = np.asarray(prepared.convert("L"), dtype=np.float64).mean()
    assert brightness == pytest.approx(expected, abs=2.5)


def test_exact_duplicates_are_skipped_naming_the_first(tmp_path):
    stills = tmp_path / "stills"
    (stills / "sub").mkdir(parents=True)
    Image.new("RGB", (80, 80), (200, 10, 10)).save(stills / "a.png")
    for copy in ("c.png", "sub/b.png"):
        (stills / copy).write_bytes((stills / "a.png").read_bytes())
    Image.new("RGB", (80, 80), (10, 200, 10)).save(stills / "other.png")
    for broken in ("x.png", "y.png"):  # equal bytes, but neither was kept: both unreadable
        (stills / broken).write_bytes(b"not an image")
    manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")
    assert [entry["source"] for entry in manifest["images"]] == ["a.png", "other.png"]
    skipped = {entry["source"]: entry["reason"] for entry in manifest["skipped"]}
    assert skipped["c.png"] == skipped["sub/b.png"] == "duplicate of a.png"
    assert skipped["x.png"].startswith("unreadable") and skipped["y.png"].startswith("unreadable")


def test_gif_stills_are_read_and_animations_give_their_first_frame(tmp_path, caplog):
    stills = tmp_path / "stills"
    stills.mkdir()
    Image.new("RGB", (80, 80), (0, 0, 255)).save(stills / "still.gif")
    frames = [Image.new("RGB", (80, 80), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(stills / "loop.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(stills / "loop.png", save_all=True, append_images=frames[1:])  # an APNG
    with caplog.at_level("WARNING", logger="stylesweep.dataset"):
        manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")
    kept = {entry["source"]: entry for entry in manifest["images"]}
    assert set(kept) == {"still.gif", "loop.gif", "loop.png"} and not manifest["skipped"]
    assert kept["still.gif"]["note"] is None
    assert kept["loop.gif"]["note"] == "animated GIF (2 frames): first frame only"
    assert kept["loop.png"]["note"] == "animated PNG (2 frames): first frame only"
    for source in ("loop.gif", "loop.png"):
        with Image.open(tmp_path / "out" / kept[source]["file"]) as prepared:
            red, green, blue = prepared.getpixel((32, 32))
        assert red > 240 and green < 15 and blue < 15  # the first frame's red
        assert any(source in r.getMessage() and "first frame" in r.message for r in caplog.records)
    with Image.open(tmp_path / "out" / kept["still.gif"]["file"]) as prepared:
        assert prepared.getpixel((32, 32))[2] > 240


def test_a_small_still_is_used_with_a_warning(tmp_path, caplog):
    stills = tmp_path / "stills"
    stills.mkdir()
    # the rule is on the shorter side, which the square crop enlarges to the resolution
    Image.new("RGB", (200, 20), (90, 90, 90)).save(stills / "strip.png")
    Image.new("RGB", (32, 40), (90, 90, 90)).save(stills / "just enough.png")
    with caplog.at_level("WARNING", logger="stylesweep.dataset"):
        manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")
    kept = {entry["source"]: entry for entry in manifest["images"]}
    assert set(kept) == {"strip.png", "just enough.png"}
    assert kept["strip.png"]["warning"].startswith("strip.png is only 200x20 px")
    assert "enlarged 3.2x to 64 px" in kept["strip.png"]["warning"]
    assert kept["just enough.png"]["warning"] is None
    assert [r.getMessage() for r in caplog.records if "strip.png" in r.getMessage()]
    assert not [r for r in caplog.records if "just enough" in r.getMessage()]


NAMES = {
    "<b>.png": "b.png",
    "shot {take}.png": "shot_take.png",
    "with  two spaces.png": "with_two_spaces.png",
    "with_two_spaces.jpg": "with_two_spaces-2.png",  # same safe name: numbered, in sorted order
    'it\'s "quoted".png': "it_s_quoted.png",
    "Café.webp": "Cafe.png",
    "café.png": "cafe-2.png",  # unique on case-insensitive file systems too
    "日本.png": "image.png",
    "100% $HOME & `x`;#?.png": "100_HOME_x.png",
    "line\nbreak.png": "line_break.png",
    ".hidden-ish but not -.png": None,  # hidden: passed over
    "-dash.png": "dash.png",
}


@pytest.mark.skipif(sys.platform == "win32", reason="these names are Linux and macOS names")
def test_any_file_name_works_and_gives_a_safe_output_name(tmp_path):
    stills = tmp_path / "stills"
    stills.mkdir()
    for index, name in enumerate(NAMES):
        Image.new("RGB", (80, 80), (index * 20, 0, 0)).save(stills / name)
    (stills / "shot {take}.txt").write_text("the {take} caption")
    manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")
    files = {entry["source"]: entry["file"] for entry in manifest["images"]}
    assert files == {source: file for source, file in NAMES.items() if file}
    for file in files.values():
        assert re.fullmatch(r"[A-Za-z0-9._-]+\.png", file) and (tmp_path / "out" / file).is_file()
    captions = {entry["source"]: entry for entry in manifest["images"]}
    read = {e["source"]: e["training_caption"] for e in read_sidecars(manifest["images"], stills)}
    assert read["shot {take}.png"] == "the {take} caption"
    assert captions["café.png"]["filename_caption"] == "café"
    assert json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8")) == manifest


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux allows names that are not UTF-8")
def test_a_name_that_is_not_utf8_is_recorded_readably(tmp_path):
    stills = tmp_path / "stills"
    stills.mkdir()
    Image.new("RGB", (80, 80), (1, 2, 3)).save(stills / os.fsdecode(b"caf\xe9.png"))
    manifest = prepare_dataset(stills, tmp_path / "out", 64, "center")
    assert manifest["images"][0]["source"] == "caf\\xe9.png"
    assert manifest["images"][0]["file"] == "caf.png"
    (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")  # valid UTF-8 throughout


def test_no_usable_image_says_what_was_skipped_in_one_line(tmp_path):
    stills = tmp_path / "stills"
    (stills / ".git").mkdir(parents=True)
    (stills / ".git" / "x.png").write_bytes(b"hidden folders are passed over")
    (stills / "only.txt").write_text("a caption file is not an image")
    with pytest.raises(DatasetError, match=f"no usable image in {re.escape(str(stills))}: no "):
        prepare_dataset(stills, tmp_path / "out", 64, "center")
    (stills / "broken\nname.png").write_bytes(b"nope")
    (stills / "clip.mp4").write_bytes(b"\x00")
    for index in range(5):
        (stills / f"notes{index}.md").write_text("hello")
    with pytest.raises(DatasetError) as error:
        prepare_dataset(stills, tmp_path / "out", 64, "center")
    message = str(error.value)
    assert "\n" not in message and str(stills) in message
    assert "7 file(s) skipped (broken\\nname.png: unreadable image" in message
    assert "clip.mp4: video" in message and "notes0.md: not an image file (.md)" in message
    assert "and 2 more" in message and message.endswith("webp stills")
    assert str(tmp_path) not in message.split(": ", 1)[1]  # reasons name files relatively
