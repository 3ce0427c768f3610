"""A library change that changes a stage's output must bump that stage's version.

Snakemake reruns a job when its params change, and every rule has its stage's version
(stylesweep/stages.py) as a param; it does not see edits to the package itself. This test
runs each stage's library function on the tiny model and fingerprints what it writes. When
a fingerprint moves while the stage's version stays, it fails: bump the version (so users'
results rerun), then record the new fingerprints with
`STYLESWEEP_UPDATE_FINGERPRINTS=1 pytest tests/test_stage_versions.py`.

Fingerprints round floats (3 decimals) and pixel values (to 32 levels), and leave out
package versions and exact weight hashes, so that they describe what a stage computes
rather than the last bits of one machine's arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylesweep.stages import STAGE_VERSIONS

from .conftest import REPO, train_settings

RECORD = REPO / "tests" / "stage_fingerprints.json"
VOLATILE = {"versions", "weights_sha256", "base_model_hash", "model_hash", "file", "base_model",
            "seconds", "diffused_per_second", "model_hashes", "device"}  # fmt: skip


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


def fingerprint(files: list[Path], root: Path) -> str:
    """A hash of what the files hold: pixels, tensors and JSON, by their names under root."""
    from safetensors.numpy import load_file

    digest = hashlib.sha256()
    for path in sorted(files):
        picture = path.suffix in (".png", ".webp")  # named by recipe hashes: by content only
        name = path.suffix if picture else path.relative_to(root).as_posix()
        digest.update(name.encode())
        if picture:
            with Image.open(path) as image:
                digest.update((np.asarray(image.convert("RGB")) >> 3).tobytes())
        elif path.suffix == ".safetensors":
            for key, array in sorted(load_file(str(path)).items()):
                rounded = np.round(array.astype(np.float32), 3) + 0.0  # -0.0 is 0.0
                digest.update(key.encode() + rounded.tobytes())
        elif path.suffix == ".json":
            digest.update(json.dumps(_clean(json.loads(path.read_text()))).encode())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def tree(folder: Path, pattern: str = "*") -> list[Path]:
    return [p for p in Path(folder).rglob(pattern) if p.is_file()]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, tiny_model, interrogator) -> dict[str, str]:
    """Each stage's fingerprint, from one small chain: stills to report."""
    from stylesweep import report as report_module
    from stylesweep.dataset import encode_dataset, prepare_dataset
    from stylesweep.demo import write_demo_stills
    from stylesweep.export import export_checkpoint
    from stylesweep.files import publish_tree, sha256_tree, write_json
    from stylesweep.interrogate import interrogate
    from stylesweep.prior import render_class_images
    from stylesweep.prompts import make_variants
    from stylesweep.sample import sample_models
    from stylesweep.score import score_group
    from stylesweep.sources import astronaut_path
    from stylesweep.train import train_segment

    root = tmp_path_factory.mktemp("stages")
    found = {}
    write_demo_stills(root / "stills", count=3, size=64)
    found["make_demo_stills"] = fingerprint(tree(root / "stills"), root)
    prepare_dataset(root / "stills", root / "dataset", resolution=64, crop="center")
    found["prepare_dataset"] = fingerprint(tree(root / "dataset"), root)
    found["make_base_model"] = fingerprint(tree(tiny_model, "*.safetensors"), tiny_model)
    found["hash_base_model"] = sha256_tree(tiny_model)[:16]
    encode_dataset(tiny_model, root / "dataset", root / "latents.safetensors")
    found["encode_dataset"] = fingerprint([root / "latents.safetensors"], root)

    runs = {
        "db": train_settings(text_encoder_steps=1, learning_rate=1e-3),
        "ti": train_settings(method="textual_inversion", learning_rate=5e-2),
        "lora": train_settings(method="lora", learning_rate=1e-2, lora_text_encoder=True),
    }
    for name, settings in runs.items():
        train_segment(
            base_dir=tiny_model, base_hash="tiny", latents_path=root / "latents.safetensors",
            settings=settings, start_step=0, end_step=2, previous_checkpoint=None,
            previous_state=None, checkpoint_dir=root / "train" / name / "step-2",
            state_path=root / "train" / name / "state.pt",
            loss_path=root / "train" / name / "loss.csv", run_name=name,
        )  # fmt: skip
    found["train"] = fingerprint(tree(root / "train", "step-2/*"), root)

    from stylesweep.toy.world import demo_portrait_index, draw

    draw(demo_portrait_index(), 64).image.save(root / "portrait.png")
    found["draw_portrait"] = fingerprint([root / "portrait.png"], root)
    prompt = interrogate(interrogator, astronaut_path(), "fast")
    write_json(root / "base.json", {"prompts": [prompt]})
    found["base_prompt"] = fingerprint([root / "base.json"], root)
    variants = make_variants(["a portrait, photo"], "vsynth", ["start", "end"], [1.0, 1.3])
    write_json(root / "variants.json", variants)
    found["prompt_variants"] = fingerprint([root / "variants.json"], root)

    groups = {"base": {"base": None}, "db": {"db/step-2": root / "train" / "db" / "step-2"}}
    for group, models in groups.items():
        sample_models(
            models=models, base_dir=tiny_model, base_hash="tiny", variants=variants[:2],
            seeds=[1], cfg_scales=[7], sampler="Euler a", steps=3, size=64, clip_skip=1,
            emphasis="a1111", wrap_length=20, pad_conds=False, batch_size=8,
            manifest_path=root / "samples" / group / "images.json",
        )  # fmt: skip
    found["sample"] = fingerprint(tree(root / "samples"), root)
    render_class_images(tiny_model, "tiny", root / "class", prompt="an abstract image",
                        count=2, size=64, sampler="Euler", steps=3, cfg_scale=7.5)  # fmt: skip
    found["render_class_images"] = fingerprint(tree(root / "class"), root)
    report_module.make_thumbnails(root / "samples" / "db" / "images.json", root / "thumbs", 32)
    found["make_thumbnails"] = fingerprint(tree(root / "thumbs", "*.webp"), root)

    for group in ("base", "db"):
        score_group(
            samples_manifest=root / "samples" / group / "images.json",
            base_manifest=root / "samples" / "base" / "images.json",
            dataset_dir=root / "dataset", variants=variants[:2], clip_model="builtin:tiny",
            out_path=root / "scores" / f"{group}.json",
        )  # fmt: skip
    found["score"] = fingerprint(tree(root / "scores"), root)

    for name in runs:
        precision = "fp16" if name == "db" else None
        export_checkpoint(tiny_model, root / "train" / name / "step-2",
                          root / "export" / name, precision=precision)  # fmt: skip
    found["export"] = fingerprint(tree(root / "export"), root)

    from stylesweep.animate.render import render_animation

    from .conftest import animation_settings

    model = {"checkpoint": str(root / "train" / "db" / "step-2"), "key": "vsynth"}
    render_animation(
        name="a", settings=animation_settings(models="db/step-2", init_image="portrait"),
        models={"db/step-2": model}, base_dir=tiny_model, base_hash="tiny",
        text={"clip_skip": 1, "emphasis": "a1111", "wrap_length": 20, "pad_conds": False},
        out_dir=root / "animate", init_image=root / "portrait.png",
    )  # fmt: skip
    found["animate"] = fingerprint(
        [*tree(root / "animate", "*.png"), root / "animate" / "settings.json"], root
    )

    from .conftest import synthetic_report

    with pytest.MonkeyPatch.context() as patch:  # the page records versions; not its logic
        patch.setattr(report_module, "package_versions", lambda: {})
        index = synthetic_report(root / "report")
    found["report"] = fingerprint([index], index.parent)
    publish_tree(index.parent, root / "published")
    found["publish_report"] = fingerprint(tree(root / "published"), root / "published")
    return found


def test_every_stage_is_fingerprinted(outputs):
    assert sorted(outputs) == sorted(STAGE_VERSIONS)


def test_an_output_that_changed_comes_with_a_new_version(outputs):
    recorded = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    if os.environ.get("STYLESWEEP_UPDATE_FINGERPRINTS"):
        current = {s: {"version": STAGE_VERSIONS[s], "fingerprint": f} for s, f in outputs.items()}
        RECORD.write_text(json.dumps(dict(sorted(current.items())), indent=1) + "\n")
        return
    problems = []
    for stage, value in outputs.items():
        entry = recorded.get(stage)
        if entry is None:
            problems.append(f"{stage}: no fingerprint recorded")
        elif entry["version"] != STAGE_VERSIONS[stage]:
            version = STAGE_VERSIONS[stage]
            problems.append(f"{stage}: version {version}, {entry['version']} recorded")
        elif entry["fingerprint"] != value:
            problems.append(
                f"{stage}: its output changed while its version stayed "
                f"{STAGE_VERSIONS[stage]}; bump STAGE_VERSIONS[{stage!r}] in stylesweep/stages.py"
            )
    assert not problems, (
        "; ".join(problems)
        + ". Then record: STYLESWEEP_UPDATE_FINGERPRINTS=1 pytest tests/test_stage_versions.py"
    )
