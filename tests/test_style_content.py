"""The style-and-content scorer: CSD's architecture, the shipped toy one's retrieval, the
loaders of the published CSD and DINOv2 weights, and the measures built on its embeddings."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from stylesweep.evidence import diversity, mean_pairwise_distance, nearest_still, tiny_image
from stylesweep.style_content import (
    CSD_REPO,
    ScorerMissingError,
    StyleContentModel,
    csd_state_dict,
    embed,
    load,
    load_dino,
)
from stylesweep.toy import world
from stylesweep.toylab.scorer import (
    CONFIG,
    STYLE_LABELS,
    evaluate_scorer,
    nearest_neighbour_accuracy,
    supervised_contrastive,
)

from .conftest import grid_data, synthetic_report

TINY_VISION = {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16}


@pytest.fixture(scope="module")
def toy_scorer():
    return load("builtin:toy", None)


def test_the_shipped_scorer_tells_style_from_content(toy_scorer):
    """Held-out world pictures, styles drawn evenly: each head retrieves its own label (style
    across subjects, subject across styles) at 90 % or more, and the other's label at least
    30 points worse than the other head does."""
    measured = evaluate_scorer(toy_scorer.model, pictures=300)
    style, content = measured["style_head_on_style"], measured["content_head_on_subject"]
    assert style >= 0.9 and content >= 0.9, measured
    assert measured["style_head_on_subject"] <= content - 0.3, measured
    assert measured["content_head_on_style"] <= style - 0.3, measured


def test_a_style_laid_over_any_subject_reads_as_that_style(toy_scorer):
    """The same styled picture is nearer, by the style head, to another subject in its style
    than to itself plain; by the content head the other way round."""
    index = world.demo_portrait_index()
    portrait = world.sample_attributes(world.picture_random(index))
    house = next(
        a
        for i in world.held_out_indices(200)
        if (a := world.sample_attributes(world.picture_random(i)))["subject"] == "house"
    )
    pictures = [
        world.render(world.restyle(portrait, "pop art", index)),
        world.render(world.restyle(portrait, None, index)),
        world.render(world.restyle(house, "pop art", index)),
    ]
    found = embed(toy_scorer, pictures)
    style, content = found["style"], found["content"]
    assert style[0] @ style[2] > style[0] @ style[1]
    assert content[0] @ content[1] > content[0] @ content[2]


def test_supervised_contrastive_loss_prefers_clustered_labels():
    labels = torch.tensor([0, 0, 1, 1])
    clustered = torch.nn.functional.normalize(torch.tensor([[1, 0.1], [1, -0.1], [-1, 0.1],
                                                            [-1, -0.1]]), dim=1)  # fmt: skip
    mixed = clustered[[0, 2, 1, 3]]
    assert supervised_contrastive(clustered, labels, 0.1) < supervised_contrastive(
        mixed, labels, 0.1
    )


def test_retrieval_looks_only_across_the_other_label():
    """Two clusters, one per style: each picture's nearest is in its own, unless the pictures
    sharing its subject (here: its cluster) are taken out of the gallery."""
    embeddings = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0], [1.0, 0.01], [-0.9, 0.4], [-1.0, 0.0]]), dim=1
    )
    styles, subjects = [0, 0, 1, 1], [0, 0, 1, 1]
    assert nearest_neighbour_accuracy(embeddings, styles, [0, 1, 2, 3]) == 1.0
    assert nearest_neighbour_accuracy(embeddings, styles, subjects) == 0.0


def test_the_csd_checkpoint_layout_loads_into_the_model(tmp_path):
    """CSD's published checkpoint: a training checkpoint (the run's arguments and numpy
    scalars beside the weights) whose `model_state_dict` has DataParallel's `module.` prefix,
    the tower's projection gone and two heads beside it."""
    source = StyleContentModel(16, TINY_VISION)
    with torch.no_grad():
        source.last_layer_style.mul_(2)
    import argparse

    from stylesweep.style_content import checkpoint_globals

    checkpoint = {"model_state_dict": {f"module.{k}": v for k, v in source.state_dict().items()},
                  "args": argparse.Namespace(lr=1e-4), "best": np.float64(0.5)}  # fmt: skip
    torch.save(checkpoint, tmp_path / "checkpoint.bin")
    with pytest.raises(Exception, match="Namespace"):  # refused unless allowed by name
        torch.load(tmp_path / "checkpoint.bin", weights_only=True)
    with torch.serialization.safe_globals(checkpoint_globals()):
        loaded = torch.load(tmp_path / "checkpoint.bin", weights_only=True)
    target = StyleContentModel(16, TINY_VISION)
    target.load_state_dict(csd_state_dict(loaded))
    images = torch.rand(2, 3, 32, 32)
    for ours, theirs in zip(target(images), source(images), strict=True):
        assert torch.allclose(ours, theirs)


def test_missing_hub_weights_get_the_download_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ScorerMissingError, match=f"hf download {CSD_REPO}"):
        load(CSD_REPO, None)
    with pytest.raises(ScorerMissingError, match="hf download facebook/dinov2-base"):
        load_dino("facebook/dinov2-base")


def test_dinov2_from_a_local_folder_measures_structure(tmp_path, toy_scorer):
    """DINOv2 through transformers' own loader: a small random one saved as the hub's is."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64, image_size=32, patch_size=8)  # fmt: skip
    Dinov2Model(config).save_pretrained(tmp_path / "dino")
    BitImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(tmp_path / "dino")
    model, processor = load_dino(str(tmp_path / "dino"))
    scorer = type(toy_scorer)(toy_scorer.name, toy_scorer.model, toy_scorer.preprocess,
                              (model, processor), str(tmp_path / "dino"))  # fmt: skip
    pictures = [world.draw(i).image for i in range(3)]
    found = embed(scorer, pictures)
    assert found["structure"].shape == (3, 32)
    assert torch.allclose(found["structure"].norm(dim=1), torch.ones(3))


def test_the_nearest_still_is_found_in_pixels():
    """A blurred, noisy copy of a still is most like that still; a world portrait is like
    none of the stills."""
    from PIL import ImageFilter

    from stylesweep.demo import video_synth_still

    stills = [video_synth_still(i, size=64) for i in range(4)]
    tiny = np.stack([tiny_image(s) for s in stills])
    noise = np.random.default_rng(0).normal(0, 20, (64, 64, 3))
    blurred = np.asarray(stills[2].filter(ImageFilter.GaussianBlur(2)), float)
    copy = Image.fromarray(np.clip(blurred + noise, 0, 255).astype(np.uint8))
    index, likeness = nearest_still(tiny_image(copy), tiny)
    assert index == 2 and likeness > 0.8
    _, unlike = nearest_still(tiny_image(world.draw(world.demo_portrait_index()).image), tiny)
    assert unlike < 0.4


def test_diversity_is_the_seeds_mean_distance_per_recipe():
    rows = [{"model": m, "variant": "v", "cfg_scale": 7, "seed": s}
            for m in ("varied", "collapsed") for s in (1, 2)]  # fmt: skip
    structure = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    found = diversity(rows, structure)
    assert found["varied"]["mean"] == pytest.approx(1.0)
    assert found["collapsed"]["mean"] == pytest.approx(0.0)
    assert mean_pairwise_distance(structure[:1]) is None
    # subjects weigh the same: one varied recipe of the house, two collapsed of the portrait
    rows = [{"model": "m", "subject": subject, "variant": variant, "cfg_scale": 7, "seed": s}
            for subject, variant in (("house", "h"), ("portrait", "a"), ("portrait", "b"))
            for s in (1, 2)]  # fmt: skip
    structure = np.array([[1.0, 0.0], [0.0, 1.0]] + [[1.0, 0.0]] * 4)
    assert diversity(rows, structure)["m"]["mean"] == pytest.approx(0.5)  # not 1/3


def test_the_report_tables_hold_one_row_per_image_and_per_model(tmp_path):
    index = synthetic_report(tmp_path)
    folder = index.parent
    with open(folder / "metrics.csv", newline="") as handle:
        metrics = list(csv.DictReader(handle))
    with open(folder / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert len(metrics) == len(grid_data(index.read_text())["images"]) == 8
    assert {"model", "run", "step", "subject", "seed", "cfg_scale", "style_csd", "content",
            "nearest_still"} <= set(metrics[0])  # fmt: skip
    assert float(metrics[0]["style_csd"]) >= 0
    models = {row["model"] for row in metrics}
    for subject in ("all", "portrait"):  # every subject together, then each apart
        assert sorted(row["model"] for row in summary if row["subject"] == subject) == sorted(
            models
        )
    assert len(summary) == 2 * len(models)
    assert {"style_csd_mean", "content_std", "diversity_mean", "flags"} <= set(summary[0])


def test_style_labels_cover_plain_and_every_world_style():
    assert ("plain", *world.STYLES) == STYLE_LABELS
    assert CONFIG["vision_cfg"]["image_size"] == 64
