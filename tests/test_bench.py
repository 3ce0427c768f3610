"""bench/run.py: its scoring baseline measures what stylesweep.score measures, and its table
has every row with positive ratios. (Running the whole benchmark takes minutes: not here.)"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

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
        out_path=tmp_path / "ours.json",
    )["images"]  # fmt: skip
    naive = json.loads((tmp_path / "naive.json").read_text())["images"]
    assert len(naive) == len(ours) == 12
    for mine, theirs in zip(ours, naive, strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            assert theirs[key] == pytest.approx(value, abs=1e-5), key


def test_table_has_every_row_with_positive_ratios(bench_run):
    args = bench_run.parse(["--device", "cpu"])
    results = {
        f"{row}-{side}": {"value": value, "peak_mib": 900.0 + value, "imports_mib": 850.0}
        for row in ("training", "sampling", "scoring", "report")
        for side, value in (("ours", 2.0), ("base", 1.0))
    }
    results["report-ours"] |= {"first_screen": 1e5, "all_full": 1e7, "images": 192}
    lines = bench_run.table(args, results, (4.0, 5.0)).splitlines()
    assert len(lines) == 2 + len(bench_run.ROWS)
    for line, label in zip(lines[2:], bench_run.ROWS.values(), strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0] == label
        assert float(cells[3]) > 0 and re.fullmatch(r"[\d.]+", cells[3])
