"""Captions of content: the toy world's captioner, templates, sidecars, dropout."""

import json
import logging
import re
from pathlib import Path

import pytest

from stylesweep.captions import (
    CaptionError,
    caption_stills,
    check_template,
    load_captioner,
    read_sidecars,
    sidecars_fingerprint,
    training_caption,
    write_sidecars,
)
from stylesweep.toy import world
from stylesweep.train import captions_for

from .conftest import train_settings

SUBJECT_WORDS = {"house": "house", "landscape": "landscape", "still life": "still life"}


def named_subject(caption: str) -> str:
    """The subject a toy caption names."""
    for subject, word in SUBJECT_WORDS.items():
        if word in caption:
            return subject
    if "abstract pattern" in caption:
        return "abstract"
    return "portrait" if any(w in caption.split() for w in ("man", "woman", "person")) else "?"


@pytest.fixture(scope="module")
def toy_captioner(tmp_path_factory):
    return load_captioner("builtin:toy", tmp_path_factory.mktemp("toy-labels"))


def test_toy_captions_name_the_subject_drawn(toy_captioner):
    pictures = [world.draw(i) for i in world.held_out_indices(300)]
    pictures = [p for p in pictures if p.attributes["subject"] != "abstract"][:120]
    subjects = {p.attributes["subject"] for p in pictures}
    assert subjects == {"portrait", "house", "landscape", "still life"}
    right = [named_subject(toy_captioner(p.image)) == p.attributes["subject"] for p in pictures]
    assert sum(right) / len(right) >= 0.8, sum(right) / len(right)


@pytest.mark.parametrize(
    "template, problem",
    [("", "is empty"), ("{caption}", "has no {key}"), ("{caption}, {key}, {style}", "only")],
)
def test_a_template_that_cannot_train_a_key_is_refused(template, problem):
    with pytest.raises(CaptionError, match=problem) as error:
        check_template(template)
    assert "train.caption_template" in str(error.value)


def test_training_caption_fills_the_template():
    assert training_caption("{caption}, {key}", "a red house", "vsynth") == "a red house, vsynth"
    assert training_caption("{key} style, {caption}", " a lake ", "k") == "k style, a lake"
    assert training_caption("{caption}, {key}", "", "vsynth") == "vsynth"


def write_picture(path: Path, index: int) -> None:
    world.draw(index).image.save(path)


def test_a_still_the_captioner_fails_on_keeps_the_instance_prompt(tmp_path, caplog):
    for name, index in (("a.png", 1_000_000), ("b.png", 1_000_001)):
        write_picture(tmp_path / name, index)
    images = [{"file": n, "source": f"stills/{n}"} for n in ("a.png", "b.png")]

    def captioner(image):
        if captioner.calls:
            raise RuntimeError("out of memory")
        captioner.calls += 1
        return "a  red house"

    captioner.calls = 0
    with caplog.at_level(logging.WARNING):
        captioned = caption_stills(
            images, tmp_path, captioner, template="{caption}, {key}", key="k"
        )
    assert [c["training_caption"] for c in captioned] == ["a red house, k", None]
    assert "b.png" in caplog.text and "out of memory" in caplog.text
    settings = train_settings(captions="auto", instance_prompt="art, {key}", key="k")
    assert captions_for(settings, images, captioned) == ["a red house, k", "art, k"]

    written = write_sidecars(captioned, tmp_path / "sidecars")
    assert written == ["stills/a.txt"]  # no caption, no sidecar: the instance prompt stands
    assert (tmp_path / "sidecars/stills/a.txt").read_text() == "a red house, k\n"


def test_sidecars_written_by_auto_read_back_as_the_same_captions(tmp_path, toy_captioner):
    stills = tmp_path / "stills"
    stills.mkdir()
    for i, index in enumerate(world.held_out_indices(3)):
        write_picture(stills / f"still{i}.png", index)
    images = [{"file": f"still{i}.png", "source": f"still{i}.png"} for i in range(3)]
    captioned = caption_stills(images, stills, toy_captioner, template="{caption}, {key}", key="k")
    before = sidecars_fingerprint(stills)
    write_sidecars(captioned, stills)  # as the artist copies them beside the stills
    assert sidecars_fingerprint(stills) != before
    read = read_sidecars(images, stills)
    assert [r["training_caption"] for r in read] == [c["training_caption"] for c in captioned]
    assert all(c["training_caption"].endswith(", k") for c in captioned)

    fingerprint = sidecars_fingerprint(stills)
    (stills / "still0.txt").touch()  # a touch is no edit
    assert sidecars_fingerprint(stills) == fingerprint
    (stills / "still0.txt").write_text("a portrait, k\n")
    assert sidecars_fingerprint(stills) != fingerprint


def test_caption_dropout_trains_some_pictures_on_the_key_alone(
    tiny_model, latents, tmp_path, monkeypatch
):
    """Training sees the key alone about as often as the dropout says; without it, never."""
    from dataclasses import replace

    from stylesweep import methods
    from stylesweep.train import train_segment

    seen = []
    condition = methods.DreamBooth.condition

    def spy(self, components, texts, *args):
        seen.extend(texts)
        return condition(self, components, texts, *args)

    monkeypatch.setattr(methods.DreamBooth, "condition", spy)
    settings = train_settings(text_encoder_steps=2, instance_prompt="art, {key}", key="vsynth",
                              batch_size=4, learning_rate=1e-3)  # fmt: skip
    for name, dropout in (("plain", 0.0), ("dropped", 0.5)):
        seen.clear()
        train_segment(
            base_dir=tiny_model, base_hash="tiny", latents_path=latents,
            settings=replace(settings, caption_dropout=dropout), start_step=0, end_step=10,
            checkpoint_dir=tmp_path / name / "step-10", loss_path=tmp_path / name / "loss.csv",
            run_name=name,
        )  # fmt: skip
        alone = seen.count("vsynth") / len(seen)
        if dropout:
            assert 0.3 <= alone <= 0.7 and set(seen) == {"vsynth", "art, vsynth"}
        else:
            assert alone == 0


def test_read_sidecars_names_a_caption_file_that_is_not_utf8(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "a.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CaptionError, match=r"a\.txt is not UTF-8"):
        read_sidecars([{"file": "a.png", "source": "a.png"}], tmp_path)


def test_auto_manifest_is_json_the_train_job_reads(tmp_path, toy_captioner):
    from stylesweep.captions import caption_dataset

    dataset = tmp_path / "dataset"
    dataset.mkdir()
    write_picture(dataset / "x.png", 1_000_002)
    entry = {"file": "x.png", "source": "clip.mp4"}
    (dataset / "manifest.json").write_text(json.dumps({"images": [entry]}))
    manifest = caption_dataset(
        dataset, caption_model="builtin:toy", template="{caption}, {key}", key="k",
        cache_dir=tmp_path / "cache", manifest_path=tmp_path / "auto.json",
        sidecar_dir=tmp_path / "auto",
    )  # fmt: skip
    assert json.loads((tmp_path / "auto.json").read_text()) == manifest
    assert (tmp_path / "auto" / "clip.txt").read_text().strip().endswith(", k")


@pytest.mark.workflow
def test_editing_a_sidecar_retrains_only_the_runs_that_read_sidecars(tmp_path):
    from tests.conftest import small_config, snakemake, write_config
    from tests.test_reruns import job_counts

    stills = tmp_path / "stills"
    stills.mkdir()
    for i, index in enumerate(world.held_out_indices(4)):
        write_picture(stills / f"still{i}.png", index)
        (stills / f"still{i}.txt").write_text(f"picture {i}, vsynth\n")
    config = small_config()
    config["dataset"]["stills"] = str(stills)
    config["train"]["extra_runs"] = [{"captions": "sidecar"}, {"captions": "auto"}]
    write_config(tmp_path, config)
    # the runs' last checkpoints (not --until train: a rule that follows itself, segment
    # after segment, trips Snakemake's "out of jobs ready" there)
    runs = ["te~0.25", "captions~sidecar", "captions~auto"]
    targets = [f"results/train/{run}/step-4" for run in runs]
    result = snakemake(tmp_path, *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    auto = json.loads((tmp_path / "results/captions/auto.json").read_text())
    assert {e["file"] for e in auto["images"]} == {f"still{i}.png" for i in range(4)}
    assert len(list((tmp_path / "results/captions/auto").glob("*.txt"))) == 4

    (stills / "still2.txt").write_text("picture two, a portrait, vsynth\n")
    result = snakemake(tmp_path, "-n", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == {"read_sidecars": 1, "train": 2}, result.stdout[-3000:]
    retrained = set(re.findall(r"wildcards: run=([^,\s]+)", result.stdout))
    assert retrained == {"captions~sidecar"}


def test_a_caption_model_not_in_the_cache_gets_the_download_line(tmp_path, monkeypatch):
    from clip_interrogator.clip_interrogator import CAPTION_MODELS

    from stylesweep.interrogate import InterrogationError

    monkeypatch.setitem(CAPTION_MODELS, "blip-missing", "stylesweep-tests/no-such-blip")
    with pytest.raises(InterrogationError, match="hf download stylesweep-tests/no-such-blip"):
        load_captioner("blip-missing", tmp_path)
    with pytest.raises(CaptionError, match="'blip-huge' is not one of builtin:toy"):
        load_captioner("blip-huge", tmp_path)
