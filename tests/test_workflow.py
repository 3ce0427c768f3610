"""The whole workflow on a small config in a temporary folder, as a user runs it."""

import shutil

import numpy as np
import pytest
from PIL import Image

from .conftest import REPO, grid_data, small_config, snakemake, write_config
from .test_reruns import job_counts

pytestmark = pytest.mark.workflow


def test_the_report_shows_every_image_of_the_grid(finished):
    index = finished / "results" / "report" / "index.html"
    html = index.read_text()
    data = grid_data(html)
    # (the portrait's 4 variants + the house's 2) x 2 seeds x 5 models (base, te~0.25 and
    # method~ti_lr~0.05 at steps 2 and 4) x 2 CFG scales
    assert len(data["images"]) == (4 + 2) * 2 * 5 * 2
    for image in data["images"]:
        assert (index.parent / image["full"]).is_file()
    models = next(axis["values"] for axis in data["axes"] if axis["name"] == "model")
    assert models[:3] == ["base", "te~0.25/step-2", "te~0.25/step-4"]  # base first, by step
    learned = finished / "results/train/method~ti_lr~0.05/step-4/learned_embeds.safetensors"
    assert learned.is_file()
    # export.checkpoints: [last] exports every run for A1111 and ComfyUI
    assert (finished / "results/export/method~ti_lr~0.05/step-4/vsynth.safetensors").is_file()
    assert (finished / "results/export/te~0.25/step-4/te~0.25-step4.safetensors").is_file()
    assert "Style on a figurative subject:" in html and 'class="chart pareto"' in html
    assert (finished / "results" / "scores" / "te~0.25.json").is_file()
    png = next((finished / "results" / "samples" / "base").rglob("*.png"))
    assert "Sampler: Euler a" in Image.open(png).text["parameters"]


def test_a_second_run_has_nothing_to_do(finished):
    result = snakemake(finished, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


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
        (
            lambda c: c.update(base_model="models/sd15.safetensors"),
            "config key 'base_model': models/sd15.safetensors does not exist",
        ),
        (
            lambda c: c["animate"]["animations"]["drift"].update(zoom="0: (1.0), 10 (1.1)"),
            "config key animate.animations.drift.zoom",
        ),
        (
            lambda c: c["animate"]["animations"]["drift"].update(angle="0: (os.system(1))"),
            "animate.animations.drift.angle",
        ),
        (
            lambda c: c["animate"]["animations"]["drift"].update(models={0: "te~9/step-2"}),
            "'te~9/step-2' is not a model of the sweep; models: base, te~0.25/step-2",
        ),
        (
            lambda c: c["animate"]["animations"]["drift"].update(zoom="0: (1 + 0.1*beat)"),
            "animate.animations.drift.zoom, frame 0: '1 + 0.1*beat' uses 'beat', a feature of "
            "the soundtrack, and the animation has none",
        ),
        (
            lambda c: c["animate"]["animations"]["drift"].update(soundtrack="no/track.wav"),
            "config key 'animate.animations.drift.soundtrack': no/track.wav does not exist",
        ),
        (
            lambda c: c["animate"]["animations"]["drift"].update(video_init="stills:none.mp4"),
            "config key 'animate.animations.drift.video_init':",
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


def test_a_single_file_base_model_is_converted_by_one_job(tmp_path):
    config = small_config()
    config["base_model"] = "sd15.safetensors"
    from safetensors.numpy import save_file

    save_file({"weights": np.zeros(1, dtype=np.float32)}, str(tmp_path / "sd15.safetensors"))
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert job_counts(result.stdout)["make_base_model"] == 1
    assert "input: sd15.safetensors" in result.stdout


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
