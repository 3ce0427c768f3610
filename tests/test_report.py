import json

from PIL import Image

from .conftest import EVIL, grid_data, synthetic_report


def test_report_links_every_image_and_escapes_text(tmp_path):
    index = synthetic_report(tmp_path)
    html = index.read_text()
    assert EVIL not in html and "&lt;script&gt;" in html
    assert html.count("<script") == 2  # the grid's JSON and the page's own script
    assert "Style on a figurative subject: <strong>te~0.1/step-2</strong>" in html
    data = grid_data(html)
    assert len(data["images"]) == 2 * 2 * 2  # models x seeds x CFG scales
    for image in data["images"]:
        assert (index.parent / image["full"]).is_file(), image
        assert "thumb" not in image  # 8 px images are their own thumbnails
        assert image["settings"] == ""  # hand-made PNGs carry no parameters
    assert data["variants"][0]["prompt"] == f"vsynth, a portrait {EVIL}"  # JSON keeps the text
    axes = {axis["name"]: axis["values"] for axis in data["axes"]}
    assert axes["model"] == ["base", "te~0.1/step-2"] and axes["run"] == ["base", "te~0.1"]
    assert axes["cfg"] == [3.0, 7.0] and axes["portrait"] == ["p1"]
    assert "tiny model" in html and "not an image file" in html
    assert "<polyline" in html
    weight = json.loads((index.parent / "weight.json").read_text())
    assert weight["images"] == 8 and weight["html"] == index.stat().st_size


def test_large_images_get_webp_thumbnails_and_the_page_states_their_weight(tmp_path):
    index = synthetic_report(tmp_path, size=96, thumbnail_size=32)
    data = grid_data(index.read_text())
    for image in data["images"]:
        thumb = index.parent / image["thumb"]
        with Image.open(thumb) as opened:
            assert opened.format == "WEBP" and max(opened.size) == 32
        assert thumb.stat().st_size < (index.parent / image["full"]).stat().st_size
    weight = json.loads((index.parent / "weight.json").read_text())
    assert 0 < weight["thumbnails"] < weight["full"]
    assert f"thumbnails {weight['thumbnails'] / 1e6:.1f} MB" in index.read_text()


def test_animations_get_their_own_section(tmp_path):
    clip = tmp_path / "drift.gif"
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(clip, save_all=True, append_images=frames[1:], duration=100)
    html = synthetic_report(tmp_path / "r", animations=[clip]).read_text()
    assert '<section id="animations">' in html and 'src="animations/drift.gif"' in html
    assert (tmp_path / "r" / "report" / "animations" / "drift.gif").is_file()
    assert '<section id="animations">' not in synthetic_report(tmp_path / "s").read_text()


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from stylesweep.files import write_text

    write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask


def test_no_thumbnail_when_it_would_outweigh_the_image(tmp_path):
    from stylesweep.demo import video_synth_still
    from stylesweep.report import make_thumbnail

    video_synth_still(0, 512).save(tmp_path / "flat.png")  # smooth bands: a small PNG
    assert not make_thumbnail(tmp_path / "flat.png", tmp_path / "flat.webp", 256)
    assert not (tmp_path / "flat.webp").exists()
