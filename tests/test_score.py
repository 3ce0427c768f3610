import numpy as np
import pytest
import torch
from PIL import Image

import stylesweep.score
from stylesweep.files import write_json
from stylesweep.score import (
    colour_histogram,
    colour_histograms,
    read_embeddings,
    score_group,
    ssim_batch,
)
from stylesweep.summary import by_subject, flags, pareto_front, recommend, summarise


def test_colour_histograms_compare_colour_distributions():
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[..., 0] = 255
    half = red.copy()
    half[:4] = 0
    h_red, h_half = colour_histogram(red), colour_histogram(half)
    assert h_red.sum() == pytest.approx(1) and h_red.shape == (512,)
    assert np.minimum(h_red, h_red).sum() == pytest.approx(1)
    assert np.minimum(h_red, h_half).sum() == pytest.approx(0.5)


def test_pareto_front_and_recommendations():
    points = {"a": (0.9, 0.1), "b": (0.5, 0.5), "c": (0.4, 0.4), "d": (0.1, 0.9)}
    assert pareto_front(points) == ["a", "b", "d"]
    summary = {m: {"style_colour": {"mean": s, "std": 0}, "fidelity_base": {"mean": f, "std": 0}}
               for m, (s, f) in points.items()}  # fmt: skip
    summary["base"] = {"style_colour": {"mean": 0.0, "std": 0}, "fidelity_base": {"mean": None}}
    picks = recommend(summary, "style_colour", "fidelity_base")
    assert picks["front"] == ["a", "b", "d"]
    assert picks["abstraction"] == "a"  # the most style
    assert picks["figurative"] == "b"  # most faithful among the front at or above median style
    # a model that copies or collapses takes no part: c steps onto the front in b's place
    picks = recommend(summary, "style_colour", "fidelity_base", excluded={"b"})
    assert picks["front"] == ["a", "c", "d"] and "b" not in picks.values()


def test_flags_name_copying_and_collapsed_models():
    summary = {
        "base": {"still_likeness": {"mean": 0.1}, "diversity": {"mean": 0.04}},
        "copier": {"still_likeness": {"mean": 0.55}, "diversity": {"mean": 0.2}},
        "collapsed": {"still_likeness": {"mean": 0.1}, "diversity": {"mean": 0.009}},
        "fine": {"still_likeness": {"mean": 0.1}, "diversity": {"mean": 0.011}},
        "unscored": {},
    }
    assert flags(summary, copy_threshold=0.4, collapse_ratio=0.25) == {
        "copier": ["copies a still"],
        "collapsed": ["seeds collapse"],
    }


def test_summary_is_over_seeds_so_one_lucky_seed_shows_as_spread():
    rows = [{"model": "m", "seed": seed, "variant": v, "style_colour": value, "style_clip": 0.0,
             "fidelity_base": None, "fidelity_prompt": 0.0}
            for seed, value in ((1, 0.2), (2, 0.4)) for v in ("x", "y")]  # fmt: skip
    summary = summarise(rows)["m"]
    assert summary["style_colour"] == {"mean": pytest.approx(0.3), "std": pytest.approx(0.1)}
    assert summary["fidelity_base"] == {"mean": None, "std": None}


def test_subjects_weigh_the_same_whatever_their_number_of_variants():
    rows = [{"model": "m", "seed": seed, "subject": "portrait", "variant": v, "style_csd": 0.2}
            for seed in (1, 2) for v in "abc"]  # fmt: skip
    rows += [{"model": "m", "seed": seed, "subject": "house", "variant": "h", "style_csd": value}
             for seed, value in ((1, 0.8), (2, 0.6))]  # fmt: skip
    overall = summarise(rows)["m"]["style_csd"]
    assert overall == {"mean": pytest.approx(0.45), "std": pytest.approx(0.05)}  # by image: 0.325
    apart = by_subject(rows)
    assert list(apart) == ["portrait", "house"]
    assert apart["portrait"]["m"]["style_csd"] == {"mean": pytest.approx(0.2), "std": 0}
    assert apart["house"]["m"]["style_csd"]["mean"] == pytest.approx(0.7)


def test_score_group_measures_every_image(tmp_path, monkeypatch):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for i in range(3):
        Image.new("RGB", (64, 64), (200, 10 * i, 0)).save(dataset / f"{i}.png")
    write_json(dataset / "manifest.json", {"images": [{"file": f"{i}.png"} for i in range(3)]})
    rng = np.random.default_rng(0)
    manifests = {}
    for model in ("base", "run/step-2"):
        folder = tmp_path / model.split("/")[0]
        images = []
        for seed in (1, 2):
            name = f"{model.replace('/', '_')}_{seed}.png"
            pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            if model == "run/step-2" and seed == 1:  # identical to the base image of seed 1
                pixels = np.asarray(Image.open(tmp_path / "base" / "base_1.png"))
            folder.mkdir(exist_ok=True)
            Image.fromarray(pixels).save(folder / name)
            images.append({"model": model, "variant": "v", "seed": seed, "cfg_scale": 5.0,
                           "file": name})  # fmt: skip
        write_json(folder / "images.json", {"images": images})
        manifests[model] = folder / "images.json"
    variants = [{"name": "v", "base_prompt": "a portrait"}]
    models = {"clip_model": "builtin:tiny", "style_model": "builtin:toy", "structure_model": None}
    result = score_group(samples_manifest=manifests["run/step-2"], base_manifest=manifests["base"],
                         dataset_dir=dataset, variants=variants, **models,
                         out_path=tmp_path / "scores.json")  # fmt: skip
    rows = {r["seed"]: r for r in result["images"]}
    assert rows[1]["fidelity_base"] == pytest.approx(1.0)
    assert rows[2]["fidelity_base"] < 0.5
    # the same picture as the base model's: all its content and structure kept
    assert rows[1]["content"] == pytest.approx(1.0, abs=1e-5)
    assert rows[1]["fidelity_dino"] == pytest.approx(1.0, abs=1e-5)
    assert rows[2]["fidelity_dino"] < rows[1]["fidelity_dino"]
    for row in rows.values():
        assert 0 <= row["style_colour"] <= 1 and -1 <= row["style_clip"] <= 1
        assert -1 <= row["style_csd"] <= 1 and -1 <= row["still_likeness"] <= 1
        assert row["nearest_still"] in {"0.png", "1.png", "2.png"}
    assert result["models"]["run/step-2"]["diversity"]["mean"] > 0
    assert (result["style_model"], result["structure_model"]) == ("builtin:toy", "pooled feature")
    base = score_group(samples_manifest=manifests["base"], base_manifest=manifests["base"],
                       dataset_dir=dataset, variants=variants, **models,
                       out_path=tmp_path / "base.json")  # fmt: skip
    assert all(r["fidelity_base"] is None and r["content"] is None for r in base["images"])
    assert all(r["subject"] == "portrait" for r in base["images"])  # variants without subjects

    # The base model's job writes its embeddings; a run's job reads them instead of
    # embedding the base pictures again, and scores alike.
    score_group(samples_manifest=manifests["base"], base_manifest=manifests["base"],
                dataset_dir=dataset, variants=variants, **models, out_path=tmp_path / "base.json",
                embeddings_path=tmp_path / "base.safetensors")  # fmt: skip
    stored = read_embeddings(tmp_path / "base.safetensors")
    assert set(stored) == {("v", 1, 5.0), ("v", 2, 5.0)}
    assert set(stored[("v", 1, 5.0)]) == {"style", "content", "structure", "grey"}
    base_picture = Image.open(tmp_path / "base" / "base_1.png").convert("L")
    assert np.array_equal(stored[("v", 1, 5.0)]["grey"], np.asarray(base_picture))
    embedded = []
    original = stylesweep.score.embed
    monkeypatch.setattr(stylesweep.score, "embed", lambda s, images, *a, **k: embedded.append(
        len(images)) or original(s, images, *a, **k))  # fmt: skip
    again = score_group(samples_manifest=manifests["run/step-2"], base_manifest=manifests["base"],
                        dataset_dir=dataset, variants=variants, **models,
                        out_path=tmp_path / "again.json",
                        base_embeddings=tmp_path / "base.safetensors")  # fmt: skip
    assert embedded == [3, 2]  # the stills, the run's pictures; not the base pictures again
    for first, second in zip(result["images"], again["images"], strict=True):
        for measure in ("content", "fidelity_dino", "style_csd", "fidelity_base"):
            assert second[measure] == pytest.approx(first[measure], abs=1e-5), measure


def test_batched_ssim_is_skimages_structural_similarity():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (4, 64, 48))
    references = np.clip(images + rng.normal(0, 40, images.shape), 0, 255)
    references[0] = images[0]  # the same picture: 1
    found = ssim_batch(images, references)
    for image, reference, value in zip(images, references, found, strict=True):
        assert value == pytest.approx(
            structural_similarity(image, reference, data_range=255), abs=1e-9
        )
    assert found[0] == pytest.approx(1.0)


def test_a_batch_of_pictures_at_the_scorers_size_is_preprocessed_to_the_same_floats():
    from stylesweep.clip_model import preprocess_batch
    from stylesweep.style_content import load

    preprocess = load("builtin:toy", None, "cpu").preprocess
    rng = np.random.default_rng(5)
    same_size = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
                 for _ in range(3)]  # fmt: skip
    expected = torch.stack([preprocess(image) for image in same_size])
    assert torch.equal(preprocess_batch(preprocess, same_size), expected)
    # larger pictures, or another mode, take torchvision's own steps
    other = [same_size[0].resize((96, 96)), same_size[1].convert("L")]
    expected = torch.stack([preprocess(image) for image in other])
    assert torch.equal(preprocess_batch(preprocess, other), expected)


def test_histograms_of_a_stack_are_each_pictures_own():
    rng = np.random.default_rng(7)
    pictures = rng.integers(0, 256, (3, 16, 8, 3), dtype=np.uint8)
    for picture, found in zip(pictures, colour_histograms(pictures), strict=True):
        counts = np.histogramdd(picture.reshape(-1, 3), bins=8, range=[(0, 256)] * 3)[0]
        assert np.allclose(found, counts.ravel() / counts.sum(), atol=1e-12)
