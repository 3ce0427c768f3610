"""notebooks/colab.ipynb, run top to bottom as a kernel runs it, off Colab: no Drive, no GPU."""

import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .conftest import REPO, small_config

pytestmark = pytest.mark.workflow

NOTEBOOK = REPO / "notebooks" / "colab.ipynb"


def overlay_config() -> dict:
    """A config as small as the workflow runs, given with --configfile over config.yaml: one
    DreamBooth run of one checkpoint, one picture per model, no animation (an explicit sweep,
    animations and subjects replace config.yaml's; stylesweep.config.replace_explicit)."""
    config = small_config()
    config["train"].update(max_steps=2, checkpoint_every=2, extra_runs=[])
    config["prompts"].update(placements=["end"], weights=[1.0], subjects={})
    config["sample"].update(seeds=[1], cfg_scales=[7])
    config["animate"]["animations"] = {}
    return config


def run_notebook(tmp_path: Path, monkeypatch, config: dict) -> tuple[nbformat.NotebookNode, Path]:
    """Runs the notebook in the venv's kernel, started in notebooks/ as Jupyter starts it, with
    `config` as STYLESWEEP_NOTEBOOK_CONFIG and its results in a temporary folder; returns the
    notebook with its outputs (also written beside the results) and that folder."""
    workdir = tmp_path / "work"
    extra = tmp_path / "small.yaml"
    extra.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.delenv("STYLESWEEP_ROOT", raising=False)  # found from the kernel's folder
    monkeypatch.setenv("STYLESWEEP_WORKDIR", str(workdir))
    monkeypatch.setenv("STYLESWEEP_NOTEBOOK_CONFIG", str(extra))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    # One more cell, to check that the kernel is this Python (the venv's), not another one.
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
    client = NotebookClient(
        nb, timeout=1200, kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "notebooks")}},
    )  # fmt: skip
    try:
        client.execute()
    finally:  # to read when a test fails
        nbformat.write(nb, tmp_path / "colab.executed.ipynb")
    return nb, workdir


def text_of(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                parts.append("\n".join(output.traceback))
    return "\n".join(parts)


def test_the_notebook_runs_top_to_bottom_on_the_demo_stills(tmp_path, monkeypatch):
    nb, workdir = run_notebook(tmp_path, monkeypatch, overlay_config())

    text = text_of(nb)
    assert f"KERNEL {sys.executable}" in text
    assert "using the demo's stills (builtin:demo) instead" in text
    assert "steps (100%) done" in text
    assert (workdir / "results" / "report" / "index.html").is_file()
    assert (workdir / "results" / "report" / ".published").is_file()
    assert (workdir / "results" / "stylesweep-report.zip").is_file()
    assert yaml.safe_load((workdir / "notebook-overrides.yaml").read_text()) == {
        "dataset": {"stills": "builtin:demo"}
    }
    # The small settings, given through STYLESWEEP_NOTEBOOK_CONFIG, replaced the demo's sweep.
    runs = sorted(path.name for path in (workdir / "results" / "train").glob("*~*"))
    assert runs == ["te~0.25"]


def test_a_failed_run_stops_the_notebook_with_the_end_of_the_log(tmp_path, monkeypatch):
    config = overlay_config()
    config["train"]["lerning_rate"] = 1
    with pytest.raises(CellExecutionError) as error:
        run_notebook(tmp_path, monkeypatch, config)
    assert "stylesweep stopped with an error" in str(error.value)
    assert "config key 'train.lerning_rate' is unknown" in str(error.value)
    assert not (tmp_path / "work" / "results" / "report").exists()
