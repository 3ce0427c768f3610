import re

from PIL import Image

from stylesweep.files import write_json
from stylesweep.report import build_report

EVIL = "<script>alert('x')</script>"


def test_report_links_every_image_and_escapes_text(tmp_path):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    Image.new("RGB", (8, 8)).save(dataset / "a.png")
    write_json(dataset / "manifest.json", {
        "resolution": 8, "crop": "center",
        "images": [{"file": "a.png", "source": f"{EVIL}.png", "sha256": "0" * 64,
                    "original_size": [8, 8]}],
        "skipped": [{"source": "b.txt", "reason": "not an image file (.txt)"}],
    })  # fmt: skip
    write_json(
        tmp_path / "base.json",
        {"prompts": [{"prompt": f"a portrait {EVIL}", "source": "config", "mode": None}]},
    )
    variants = [{"name": "start_w1", "placement": "start", "weight": 1.0,
                 "prompt": f"vsynth, a portrait {EVIL}", "negative": ""}]  # fmt: skip
    write_json(tmp_path / "variants.json", variants)
    manifests = []
    for model in ("base", "te~0.1/step-2"):
        folder = tmp_path / "samples" / model
        images = []
        for seed in (1, 2):
            for cfg in (3.0, 7.0):
                name = f"start_w1/seed{seed}_cfg{cfg:g}_x.png"
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (seed * 50, 0, 0)).save(folder / name)
                images.append({"model": model, "model_hash": "f" * 64, "variant": "start_w1",
                               "seed": seed, "cfg_scale": cfg, "file": name})  # fmt: skip
        write_json(folder / "images.json", {"images": images})
        manifests.append(folder / "images.json")
    (tmp_path / "loss.csv").write_text("step,loss\n1,0.5\n2,0.25\n")
    metrics = {"mean": 0.5, "std": 0.1}
    write_json(tmp_path / "scores.json", {"models": {
        "base": {k: metrics for k in ("style_colour", "style_clip", "fidelity_prompt")}
        | {"fidelity_base": {"mean": None, "std": None}},
        "te~0.1/step-2": {k: metrics for k in ("style_colour", "style_clip", "fidelity_base",
                                               "fidelity_prompt")},
    }})  # fmt: skip
    config = {"base_model": "builtin:tiny", "train": {"key": EVIL},
              "sample": {"cfg_scales": [3.0, 7.0], "seeds": [1, 2], "sampler": "Euler a",
                         "steps": 4, "size": 8}}  # fmt: skip

    index = build_report(
        out_dir=tmp_path / "report", dataset_dir=dataset, base_prompt_file=tmp_path / "base.json",
        variants_file=tmp_path / "variants.json", models=["base", "te~0.1/step-2"],
        sample_manifests=manifests, score_files=[tmp_path / "scores.json"],
        loss_files={"te~0.1": [tmp_path / "loss.csv"]}, config=config, title=f"t {EVIL}",
    )  # fmt: skip
    html = index.read_text()
    assert EVIL not in html and "&lt;script&gt;" in html
    assert html.count("<script>") == 1  # the page's own script: CFG switch, table sorting
    assert "Style on a figurative subject: <strong>te~0.1/step-2</strong>" in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len([s for s in sources if s.startswith("images/")]) == 2 * 2 * 2  # models x seeds x cfg
    for source in sources:
        assert (index.parent / source).is_file(), source
    assert "tiny model" in html and "not an image file" in html
    assert "<polyline" in html


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from stylesweep.files import write_text

    write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask
