"""The whole workflow on a small config in a temporary folder, as a user runs it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from .conftest import REPO

pytestmark = pytest.mark.workflow
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def small_config() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"]["demo_count"] = 4
    config["train"].update(max_steps=4, checkpoint_every=2)
    config["train"]["sweep"] = {"text_encoder_fraction": [0.25]}
    config["train"]["extra_runs"] = [{"method": "textual_inversion", "learning_rate": 0.05}]
    config["prompts"].update(placements=["start", "end"], weights=[1.0, 1.2])
    config["sample"].update(seeds=[1, 2], cfg_scales=[3, 7], steps=4)
    return config


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--cores", "1", "--resources", "gpu=1", *args],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip


def job_counts(output: str) -> dict[str, int]:
    """The dry run's job-stats table as {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir, small_config())
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_the_report_shows_every_image_of_the_grid(finished):
    index = finished / "results" / "report" / "index.html"
    html = index.read_text()
    grid = re.findall(r'<img src="(images/[^"]+)"', html)
    # 4 variants x 2 seeds x 5 models (base, te~0.25 and method~ti_lr~0.05 at steps 2 and 4)
    # x 2 CFG scales
    assert len(grid) == 4 * 2 * 5 * 2
    for source in grid:
        assert (index.parent / source).is_file()
    grids = html[html.index('<section id="grids">') :]  # columns: base first, then by step
    assert grids.index(">base<") < grids.index(">te~0.25/step-2<") < grids.index(">te~0.25/step-4<")
    learned = finished / "results/train/method~ti_lr~0.05/step-4/learned_embeds.safetensors"
    assert learned.is_file()
    # export.checkpoints: [last] exports the textual-inversion run for A1111 and ComfyUI
    assert (finished / "results/export/method~ti_lr~0.05/step-4/vsynth.safetensors").is_file()
    assert "Style on a figurative subject:" in html and 'class="pareto"' in html
    assert (finished / "results" / "scores" / "te~0.25.json").is_file()
    png = next((finished / "results" / "samples" / "base").rglob("*.png"))
    assert "Sampler: Euler a" in Image.open(png).text["parameters"]


def test_a_second_run_has_nothing_to_do(finished):
    result = snakemake(finished, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_adding_a_seed_reruns_sampling_scoring_and_report_only(finished):
    config = small_config()
    config["sample"]["seeds"] = [1, 2, 3]
    write_config(finished, config)
    try:
        result = snakemake(finished, "-n")
        # base and 2 runs: render the new seed, score it, report; never train
        assert job_counts(result.stdout) == {"sample": 3, "score": 3, "report": 1, "all": 1}
    finally:
        write_config(finished, small_config())


def test_adding_a_strength_trains_that_run_only(finished):
    config = small_config()
    config["train"]["sweep"]["text_encoder_fraction"] = [0.25, 0.5]
    write_config(finished, config)
    try:
        result = snakemake(finished, "-n")
        assert job_counts(result.stdout) == {
            "train": 2, "sample": 1, "score": 1, "report": 1, "all": 1
        }  # fmt: skip
        assert "te~0.5" in result.stdout
    finally:
        write_config(finished, small_config())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["train"].update(lerning_rate=1), "config key 'train.lerning_rate' is unknown"),
        (
            lambda c: c["sample"].update(steps="many"),
            "config key 'sample.steps': 'many' is not of type",
        ),
        (
            lambda c: c.update(base_model="nobody/nothing"),
            "config key 'base_model': base model nobody/nothing is not in the local Hugging Face",
        ),
        (
            lambda c: c["dataset"].update(stills="no/such/folder"),
            "config key 'dataset.stills': no/such/folder does not exist",
        ),
    ],
)
def test_bad_config_stops_before_any_job_with_one_line(tmp_path, edit, message):
    config = small_config()
    edit(config)
    write_config(tmp_path, config)
    result = snakemake(tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "results").exists()


def test_the_shipped_workflow_passes_snakemake_lint(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    result = snakemake(tmp_path, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemakes_own_report_carries_the_comparison(finished, tmp_path):
    import zipfile

    result = snakemake(finished, "--report", str(tmp_path / "report.zip"))
    assert result.returncode == 0, result.stderr[-2000:]
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    assert "report/report.html" in names  # Snakemake's own page, with ours inside:
    assert any(n.startswith("report/data/raw/") and n.endswith("/index.html") for n in names)
