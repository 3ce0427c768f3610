"""A library change that changes a stage's output must bump that stage's version.

Snakemake reruns a job when its params change, and every rule has its stage's version
(stylesweep/stages.py) as a param; it does not see edits to the package itself. This test
runs each stage's library function on the tiny model (tests/stage_chain.py) and compares
what it writes with a small reference (tests/stage_fingerprints.json). When an output moves
while the stage's version stays, it fails: bump the version (so users' results rerun), then
record the new reference with
`STYLESWEEP_UPDATE_FINGERPRINTS=1 pytest tests/test_stage_versions.py`.

The comparison holds across machines: pictures, tensors and JSON floats are compared under
tolerances (tests/fingerprints.py), not hashed, since another CPU's float kernels move their
last bits. The tests below show both sides: the chain run with another machine's kernels
(no AVX-512, one thread) passes, and a real change of a stage's output fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stylesweep.settings import SampleSettings
from stylesweep.stages import STAGE_VERSIONS

from .conftest import REPO, train_settings
from .fingerprints import ANOTHER_MACHINE, summarise, worst
from .stage_chain import run_chain, summarise_chain, tree

RECORD = REPO / "tests" / "stage_fingerprints.json"


def recorded() -> dict:
    return json.loads(RECORD.read_text()) if RECORD.is_file() else {}


def write_record(summaries: dict[str, dict]) -> None:
    """One stage a line: small diffs when a stage is recorded again."""
    lines = [f" {json.dumps(stage)}: "
             + json.dumps({"version": STAGE_VERSIONS[stage], "files": summaries[stage]})
             for stage in sorted(summaries)]  # fmt: skip
    RECORD.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def moved_stages(summaries: dict[str, dict], record: dict) -> list[str]:
    """Each stage whose output differs from the record while its version stayed."""
    problems = []
    for stage, summary in summaries.items():
        entry = record.get(stage)
        if entry is None:
            problems.append(f"{stage}: nothing recorded")
        elif entry["version"] != STAGE_VERSIONS[stage]:
            problems.append(
                f"{stage}: version {STAGE_VERSIONS[stage]}, {entry['version']} recorded"
            )
        else:
            distance, where = worst(summary, entry["files"])
            if distance > 1:
                problems.append(
                    f"{stage}: its output changed while its version stayed "
                    f"{STAGE_VERSIONS[stage]} ({where}, {distance:.3g} times the tolerance); "
                    f"bump STAGE_VERSIONS[{stage!r}] in stylesweep/stages.py"
                )
    return problems


@pytest.fixture(scope="module")
def chain(tmp_path_factory, tiny_model, interrogator):
    root = tmp_path_factory.mktemp("stages")
    return root, run_chain(root, tiny_model, interrogator)


@pytest.fixture(scope="module")
def summaries(chain) -> dict[str, dict]:
    return summarise_chain(chain[1])


def test_every_stage_is_fingerprinted(summaries):
    assert sorted(summaries) == sorted(STAGE_VERSIONS)


def test_an_output_that_changed_comes_with_a_new_version(summaries):
    if os.environ.get("STYLESWEEP_UPDATE_FINGERPRINTS"):
        write_record(summaries)
        return
    problems = moved_stages(summaries, recorded())
    assert not problems, (
        "; ".join(problems)
        + ". Then record: STYLESWEEP_UPDATE_FINGERPRINTS=1 pytest tests/test_stage_versions.py"
    )


def test_another_machines_floats_match_the_record(tmp_path):
    """The chain in a fresh interpreter with other kernels and threads lies within the
    tolerances of the record made here (bench/fingerprint_spread.py measures the margins)."""
    out = tmp_path / "summaries.json"
    result = subprocess.run(
        [sys.executable, "-m", "tests.stage_chain", str(out)], cwd=REPO, capture_output=True,
        text=True, env={**os.environ, **ANOTHER_MACHINE}, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert not moved_stages(json.loads(out.read_text()), recorded())


def subset(summary: dict[str, dict], prefix: str) -> dict[str, dict]:
    return {name: entry for name, entry in summary.items() if name.startswith(prefix)}


def test_a_real_change_of_a_stage_fails(chain, tiny_model, monkeypatch):
    """Library changes that move an output without a new version are caught: the sampler's
    timesteps spaced another way, and a training step 20 % larger."""
    from stylesweep import sample
    from stylesweep.train import train_segment

    root, outputs = chain
    record = recorded()
    changed = root / "changed"
    euler_a, _ = sample.SAMPLERS["Euler a"]
    monkeypatch.setitem(sample.SAMPLERS, "Euler a", (euler_a, {"timestep_spacing": "linspace"}))
    variants = json.loads((root / "variants.json").read_text())
    sample.sample_models(
        models={"base": None}, base_dir=tiny_model, base_hash="tiny", variants=variants[:2],
        settings=SampleSettings(seeds=[1], cfg_scales=[7], sampler="Euler a", steps=3, size=64,
                                clip_skip=1, emphasis="a1111", wrap_length=20, pad_conds=False,
                                strengths=[1.0]),
        batch_size=8,
        manifest_path=changed / "samples" / "base" / "images.json",
    )  # fmt: skip
    pictures = summarise(tree(changed / "samples" / "base", "*.png"), changed)
    reference = subset(record["sample"]["files"], "samples/base/start")
    assert worst(pictures, reference)[0] > 1

    train_segment(
        base_dir=tiny_model, base_hash="tiny", latents_path=root / "latents.safetensors",
        settings=train_settings(text_encoder_steps=1, learning_rate=1.2e-3), start_step=0,
        end_step=2, checkpoint_dir=changed / "train" / "db" / "step-2",
        loss_path=changed / "train" / "db" / "loss.csv", run_name="db",
    )  # fmt: skip
    weights = summarise(tree(changed / "train" / "db" / "step-2", "*.safetensors"), changed)
    reference = subset(record["train"]["files"], "train/db/step-2/")
    reference = {name: entry for name, entry in reference.items() if name.endswith("safetensors")}
    assert worst(weights, reference)[0] > 1
    # ...and the same calls as recorded lie within the tolerances (the check is not blind).
    unchanged = summarise(outputs["train"][0], outputs["train"][1])
    assert (
        worst(
            subset(unchanged, "train/db/step-2/"),
            subset(record["train"]["files"], "train/db/step-2/"),
        )[0]
        <= 1
    )
