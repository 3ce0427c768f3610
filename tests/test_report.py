import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from stylesweep.report import make_thumbnails, split_at_seed, thumb_path

from .conftest import EVIL, grid_data, synthetic_report

CHARTS = ("pareto", "steps", "abstract", "placement", "cfg")


def test_report_links_every_image_and_escapes_text(tmp_path):
    index = synthetic_report(tmp_path)
    html = index.read_text()
    assert EVIL not in html and "&lt;script&gt;" in html
    assert html.count("<script") == 3  # the grid's and the comparison's JSON, the page's script
    assert "Style on a figurative subject: <strong>te~0.1/step-2</strong>" in html
    data = grid_data(html)
    assert len(data["images"]) == 2 * 2 * 2  # models x seeds x CFG scales
    for image in data["images"]:
        assert (index.parent / image["full"]).is_file(), image
        assert "thumb" not in image  # 8 px images are their own thumbnails
        assert data["settings"][image["settings"]] == [""]  # hand-made PNGs carry none
    assert data["variants"][0]["prompt"] == f"vsynth, a portrait {EVIL}"  # JSON keeps the text
    axes = {axis["name"]: axis["values"] for axis in data["axes"]}
    assert axes["model"] == ["base", "te~0.1/step-2"] and axes["run"] == ["base", "te~0.1"]
    assert axes["cfg"] == [3.0, 7.0] and axes["subject"] == ["portrait"]
    assert "tiny model" in html and "not an image file" in html
    assert html.count('<svg class="chart loss"') == 1
    weight = json.loads((index.parent / "weight.json").read_text())
    assert weight["images"] == 8 and weight["html"] == index.stat().st_size


def test_the_dataset_section_names_each_frames_video_and_time_and_the_dropped_frames(tmp_path):
    html = synthetic_report(tmp_path).read_text()
    dataset = html[html.index('<section id="dataset">') :]
    assert 'title="clip.mp4 at 1.50 s (scene change)"' in dataset
    assert "<td><code>clip.mp4</code></td><td>3.0 s</td><td>8.0</td>" in dataset
    assert "<code>clip.mp4</code> at 0.50 s: blurred (variance 3.1)" in dataset


def test_large_images_get_webp_thumbnails_and_the_page_states_their_weight(tmp_path):
    index = synthetic_report(tmp_path, size=96, thumbnail_size=32)
    data = grid_data(index.read_text())
    for image in data["images"]:
        thumb = index.parent / thumb_path(image)
        with Image.open(thumb) as opened:
            assert opened.format == "WEBP" and max(opened.size) == 32
        assert thumb.stat().st_size < (index.parent / image["full"]).stat().st_size
    weight = json.loads((index.parent / "weight.json").read_text())
    assert 0 < weight["thumbnails"] < weight["full"]
    assert f"thumbnails {weight['thumbnails'] / 1e6:.1f} MB" in index.read_text()


def test_animations_get_their_own_section_with_their_settings(tmp_path):
    import numpy as np

    from stylesweep.video import write_mp4

    folder = tmp_path / "animate" / "drift"
    frames = [np.full((16, 16, 3), (i * 60, 0, 0), np.uint8) for i in range(3)]
    video = write_mp4(frames, folder / "animation.mp4", fps=4)
    settings = {"models": {"0": "base", "2": "te~0.1/step-2"}, "prompts": f"{EVIL}",
                "max_frames": 3, "fps": 4, "size": 16}  # fmt: skip
    made = {"name": "drift", "frames": 3, "diffused_per_second": 1.5, "settings": settings}
    (folder / "settings.json").write_text(json.dumps(made))
    html = synthetic_report(
        tmp_path / "r", animations=[str(video), str(folder / "settings.json")]
    ).read_text()
    assert '<section id="animations">' in html and 'src="animations/drift.mp4"' in html
    assert "3 frames at 4 fps" in html and "frame 2: te~0.1/step-2" in html
    assert EVIL not in html  # the prompt is escaped here too
    assert (tmp_path / "r" / "report" / "animations" / "drift.mp4").is_file()
    assert '<section id="animations">' not in synthetic_report(tmp_path / "s").read_text()


def test_an_animation_with_sound_plays_unmuted_with_its_chart(tmp_path):
    import re

    import numpy as np

    from stylesweep.video import write_mp4

    folder = tmp_path / "animate" / "beat"
    frames = [np.full((16, 16, 3), 60 * i, np.uint8) for i in range(3)]
    sound = (np.zeros((1, 44100), np.float32), 44100)
    video = write_mp4(frames, folder / "animation.mp4", fps=4, audio=sound)
    settings = {"models": "base", "prompts": "{key}", "max_frames": 3, "fps": 4, "size": 16,
                "soundtrack": "track.wav", "interpolate": 1}  # fmt: skip
    beat = [1.0, 0.0, 1.0]
    made = {"name": "beat", "frames": 3, "video_frames": 5, "video_fps": 8,
            "diffused_per_second": 1.5, "settings": settings,
            "recipes": [{"frame": f, "zoom": 1 + 0.1 * b} for f, b in enumerate(beat)],
            "soundtrack": {"features": {"amp": [1, 0.5, 0.2], "onset": [1, 0, 0.5],
                                        "beat": beat}}}  # fmt: skip
    (folder / "settings.json").write_text(json.dumps(made))
    html = synthetic_report(
        tmp_path / "r", animations=[str(video), str(folder / "settings.json")]
    ).read_text()
    (tag,) = re.findall(r"<video [^>]*>", html)
    assert "muted" not in tag and "autoplay" not in tag and "controls" in tag
    assert "5 frames at 8 fps (3 rendered, the others interpolated), with sound" in html
    section = html.split('<section id="animations">')[1].split("</section>")[0]
    assert "<svg" in section and "zoom" in section and "beat" in section


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


def test_the_charts_answer_the_blogs_questions_with_captions_and_scores(tmp_path):
    html = synthetic_report(tmp_path).read_text()
    for name in CHARTS:
        figure = html.index(f'<svg class="chart {name}"')
        assert html.rfind('<figure class="chart"', 0, figure) > html.rfind("</figure>", 0, figure)
        assert html.index("<figcaption>", figure) < html.index("</figure>", figure)
    # te~0.1/step-2 keeps 0.6 of the base with seed 1 and 0.1 with seed 2 (conftest)
    assert "Seed 2 turns abstract in 1 of 1 model (content kept below 0.50)." in html
    assert "te~0.1/step-2, most style (CSD): start, weight 1, CFG 7 (0.370)" in html
    data = grid_data(html)
    assert data["metrics"] == ["style (CSD)", "content kept", "structure kept (DINO)",
                               "likeness to a still", "style (colours)", "style (CLIP)",
                               "fidelity to base (SSIM)", "fidelity to prompt (CLIP)"]  # fmt: skip
    scores = {(im["model"], im["seed"], im["cfg"]): im["scores"] for im in data["images"]}
    assert scores[("te~0.1/step-2", 2, 3.0)] == [0.43, 0.1, 0.1, 0.1, 0.43, 0.5, 0.1, 0.5]
    assert scores[("base", 1, 7.0)] == [0.27, None, None, 0.1, 0.27, 0.5, None, 0.5]


def test_the_page_is_the_same_bytes_from_the_same_inputs(tmp_path):
    first = synthetic_report(tmp_path / "a").read_bytes()
    assert synthetic_report(tmp_path / "b").read_bytes() == first


def test_a_settings_line_is_shared_by_images_that_differ_in_seed_only():
    line = "Steps: 4, Sampler: Euler a, CFG scale: 7, Seed: 12, Size: 8x8, Model: te~0.1/step-2"
    before, after = split_at_seed(line, 12)
    assert before + "12" + after == line and after.startswith(", Size")
    assert split_at_seed(line, 1) == (line,)  # Seed: 12 is not seed 1
    assert split_at_seed("Seed: 3", 3) == ("Seed: ", "")
    assert split_at_seed("", 3) == ("",)


def test_thumbnails_are_made_once_per_sample_job_and_linked_into_the_report(tmp_path):
    root = tmp_path / "made"
    synthetic_report(root, size=96, thumbnail_size=32)
    manifest = root / "samples" / "te~0.1" / "images.json"
    thumbs = tmp_path / "thumbnails" / "te~0.1"
    (thumbs / "gone.webp").parent.mkdir(parents=True)
    (thumbs / "gone.webp").write_bytes(b"a thumbnail of an image no longer rendered")
    made = make_thumbnails(manifest, thumbs, 48)
    assert made["size"] == 48 and len(made["thumbnails"]) == 4
    assert json.loads((thumbs / "thumbnails.json").read_text()) == made
    assert not (thumbs / "gone.webp").exists()
    for image, thumb in made["thumbnails"].items():
        assert thumb == image.removesuffix(".png") + ".webp"
        with Image.open(thumbs / thumb) as opened:
            assert max(opened.size) == 48
    # The report links them in (the same images: synthetic reports are drawn alike).
    make_thumbnails(root / "samples" / "base" / "images.json", tmp_path / "thumbnails/base", 48)
    manifests = [
        tmp_path / "thumbnails" / group / "thumbnails.json" for group in ("base", "te~0.1")
    ]
    index = synthetic_report(tmp_path / "linked", size=96, thumbnails=manifests)
    records = grid_data(index.read_text())["images"]
    assert len(records) == 8 and all(record["thumb"] for record in records)
    for record in records:
        group, file = record["full"].split("/", 2)[1:]
        made_here = tmp_path / "thumbnails" / group / Path(file).with_suffix(".webp")
        assert (index.parent / thumb_path(record)).samefile(made_here)


def test_each_subject_gets_its_column_row_and_axis_and_the_decision_weighs_them_alike(tmp_path):
    index = synthetic_report(tmp_path, subjects={"house": "a house, blue sky"})
    html = index.read_text()
    data = grid_data(html)
    axes = {axis["name"]: axis["values"] for axis in data["axes"]}
    assert axes["subject"] == ["portrait", "house"]
    assert len(data["images"]) == 2 * 2 * 2 * 2  # models x seeds x CFG scales x subjects
    assert [v["subject"] for v in data["variants"]] == ["portrait", "house"]
    assert "over all 2 subjects, each weighing the same" in html
    table = html[
        html.index('id="subject-table"') : html.index("</table>", html.index('id="subject-table"'))
    ]
    assert "house: style (CSD)" in table and "portrait: content kept" in table
    assert '<svg class="chart subjects"' in html
    with open(index.parent / "summary.csv", newline="") as handle:
        summary = {(row["model"], row["subject"]): row for row in csv.DictReader(handle)}
    assert set(summary) == {(m, s) for m in ("base", "te~0.1/step-2")
                            for s in ("all", "portrait", "house")}  # fmt: skip
    trained = "te~0.1/step-2"
    house = float(summary[(trained, "house")]["style_csd_mean"])
    portrait = float(summary[(trained, "portrait")]["style_csd_mean"])
    assert house == pytest.approx(portrait + 0.5)  # conftest: the house takes more style
    with open(index.parent / "metrics.csv", newline="") as handle:
        subjects = [row["subject"] for row in csv.DictReader(handle)]
    assert subjects.count("house") == subjects.count("portrait") == 8
