import json

import numpy as np
import pytest
from PIL import Image

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
    captions = {entry["source"]: entry["caption"] for entry in manifest["images"]}
    assert captions["wide.png"] == "a caption" and captions["tall.jpg"] is None


def test_a_one_image_dataset_is_warned_about(tmp_path):
    (tmp_path / "one").mkdir()
    Image.new("RGB", (80, 80), (1, 2, 3)).save(tmp_path / "one" / "a.png")
    with pytest.warns(UserWarning, match="only 1 usable image.*add stills"):
        prepare_dataset(tmp_path / "one", tmp_path / "out", 64, "center")
