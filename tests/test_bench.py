"""bench/run.py: its scoring baseline measures what stylesweep.score measures, its animation
baseline renders render_animation's frames, --rows picks rows, and its table has every row
with positive ratios. (Running the whole benchmark takes minutes: not here.)"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import REPO

BENCH = REPO / "bench"


@pytest.fixture(scope="module")
def bench_run():
    sys.path.insert(0, str(BENCH))  # run.py imports its sibling benchmarks by name
    try:
        spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_naive_scores_are_score_group_s(bench_run, tmp_path):
    import bench_report

    from stylesweep import score
    from stylesweep.files import read_json

    inputs = bench_report.write_inputs(tmp_path / "in", 64, 2, 1, [3.0, 7.0])
    base, manifest = map(Path, inputs["sample_manifests"][:2])
    clip = bench_run.clip_for("tiny", "cpu")
    bench_run.naive_scores(clip, inputs, manifest, base, "cpu", tmp_path / "naive.json")
    ours = score.score_group(
        samples_manifest=manifest, base_manifest=base, dataset_dir=inputs["dataset_dir"],
        variants=read_json(inputs["variants_file"]), clip_model="builtin:tiny",
        style_model="builtin:toy", structure_model=None, out_path=tmp_path / "ours.json",
    )["images"]  # fmt: skip
    naive = json.loads((tmp_path / "naive.json").read_text())["images"]
    assert len(naive) == len(ours) == 12
    for mine, theirs in zip(ours, naive, strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            assert theirs[key] == pytest.approx(value, abs=1e-5), key


def test_the_animation_row_times_the_same_frames_both_ways(bench_run, tmp_path):
    from stylesweep.animate.render import frame_path

    args = bench_run.parse(["--device", "cpu", "--rows", "animation", "--frames", "2",
                            "--steps", "6", "--work", str(tmp_path)])  # fmt: skip
    bench_run.prepare(args, tmp_path)
    results = {}
    for side in ("ours", "base"):
        args.child = f"animation-{side}"
        results[side] = bench_run.child(args)
        assert results[side]["value"] > 0 and results[side]["peak_mib"] > 0
    assert results["ours"]["frames_value"] >= results["ours"]["value"]  # no MP4 or GIF
    assert 0 < results["base"]["load_s"] < results["base"]["seconds"]
    (ours,) = tmp_path.glob("animation-ours-*/animation")
    (stock,) = tmp_path.glob("animation-base-*/stock")
    assert (ours / "animation.mp4").stat().st_size > 0 and (ours / "preview.gif").exists()
    frames = [
        [np.asarray(Image.open(path), np.int16) for path in paths]
        for paths in ([frame_path(ours, i) for i in range(2)], sorted(stock.glob("*.png")))
    ]
    assert len(frames[1]) == 2
    for mine, theirs in zip(*frames, strict=True):  # the same animation, both ways
        assert np.abs(mine - theirs).max() <= 1
    assert np.abs(frames[0][1] - frames[0][0]).mean() > 5  # and it moves


def test_rows_picks_rows_in_the_table_s_order(bench_run):
    args = bench_run.parse(["--device", "cpu", "--rows", "animation,sampling"])
    assert args.rows == ["sampling", "animation"] and args.frames == 12
    results = {f"{row}-{side}": {"value": 1.0, "peak_mib": 900.0}
               for row in args.rows for side in ("ours", "base")}  # fmt: skip
    lines = bench_run.table(args, results, None).splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        bench_run.ROWS["sampling"],
        bench_run.ROWS["animation"],
    ]
    with pytest.raises(SystemExit):
        bench_run.parse(["--rows", "animations"])


def test_table_has_every_row_with_positive_ratios(bench_run):
    args = bench_run.parse(["--device", "cpu"])
    results = {
        f"{row}-{side}": {"value": value, "peak_mib": 900.0 + value, "imports_mib": 850.0}
        for row in ("training", "sampling", "animation", "restyle", "scoring", "report")
        for side, value in (("ours", 2.0), ("base", 1.0))
    }
    results["report-ours"] |= {"first_screen": 1e5, "all_full": 1e7, "images": 192}
    lines = bench_run.table(args, results, (4.0, 5.0)).splitlines()
    assert len(lines) == 2 + len(bench_run.ROWS)
    for line, label in zip(lines[2:], bench_run.ROWS.values(), strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0] == label
        assert float(cells[3]) > 0 and re.fullmatch(r"[\d.]+", cells[3])


def test_the_restyle_row_differs_only_by_flow_and_interpolation(bench_run, tmp_path):
    import json

    from stylesweep.animate.render import frame_path

    args = bench_run.parse(["--device", "cpu", "--rows", "restyle", "--frames", "3",
                            "--steps", "4", "--work", str(tmp_path)])  # fmt: skip
    bench_run.prepare(args, tmp_path)
    made = {}
    for side in ("ours", "base"):
        args.child = f"restyle-{side}"
        assert bench_run.child(args)["value"] > 0
        (folder,) = tmp_path.glob(f"restyle-{side}-*/restyle")
        made[side] = json.loads((folder / "settings.json").read_text()), folder
    assert made["ours"][0]["video_frames"] == 5 and made["base"][0]["video_frames"] == 3
    assert made["ours"][0]["clip"]["decoded"] == 3
    # the first frame starts from the clip's alone: the same pixels both ways
    first = [np.asarray(Image.open(frame_path(folder, 0))) for _, folder in made.values()]
    assert np.array_equal(*first)
