"""builtin:toy, phase 1: the procedural world, its captions, and the trainer's output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from stylesweep.toy import world
from stylesweep.toy.configs import (
    CLIP_CONFIG,
    MAX_MEGABYTES,
    SHIPPED,
    TEXT_CONFIG,
    UNET_CONFIG,
    VAE_CONFIG,
)
from tests.test_imports import ML, imported_by

SAMPLE = range(400)


def test_the_world_is_drawn_the_same_every_time():
    for index in (0, 1, 17, 123_456, world.TRAIN_SIZE + 3):
        first, again = world.draw(index), world.draw(index)
        assert first.image.tobytes() == again.image.tobytes()
        assert (first.caption, first.attributes) == (again.caption, again.attributes)
        assert first.image.size == (64, 64) and first.image.mode == "RGB"
    assert world.draw(0).image.tobytes() != world.draw(1).image.tobytes()
    assert world.draw(5, size=32).image.size == (32, 32)


def test_the_world_is_mostly_portraits_and_holds_every_subject():
    subjects = Counter(world.draw(i).attributes["subject"] for i in SAMPLE)
    assert set(subjects) == set(world.SUBJECTS)
    assert 0.4 < subjects["portrait"] / len(SAMPLE) < 0.6


def test_the_held_out_split_is_never_drawn_for_training():
    assert not world.is_held_out(world.TRAIN_SIZE - 1)
    assert all(world.is_held_out(i) for i in world.held_out_indices(3))


def claims(caption: str) -> dict:
    """What a caption says, read back with the world's own words."""
    words = set(re.findall(r"[a-z]+", caption))
    said = {"words": words}
    for colour in world.COLOURS:
        for noun in ("hat", "background", "roof", "vase", "house"):
            if f"{colour} {noun}" in caption:
                said[noun] = colour
    for colour in world.HAIR:
        if f"with {colour} hair" in caption:
            said["hair"] = colour
    for light, phrase in world.LIGHT_PHRASES.items():
        if phrase in caption:
            said["light"] = light
    return said


def test_captions_say_only_what_was_drawn():
    for index in SAMPLE:
        picture = world.draw(index)
        a, said = picture.attributes, claims(picture.caption)
        words = said["words"]
        if a["subject"] == "portrait":
            assert ("hat" in words) <= (a["hat"] is not None), picture
            assert said.get("hat", a["hat"]) == a["hat"], picture
            assert ("glasses" in words) <= a["glasses"], picture
            assert ("beard" in words) <= a["beard"], picture
            assert ("bald" in words) <= a["bald"], picture
            assert ("old" in words) <= (a["age"] == "old"), picture
            assert ("young" in words) <= (a["age"] == "young"), picture
            assert ("man" in words) <= (a["sex"] == "man"), picture
            assert ("woman" in words) <= (a["sex"] == "woman"), picture
            assert said.get("hair", a["hair"]) == a["hair"], picture
            assert said.get("background", a["background"]) == a["background"], picture
            assert said.get("light", a["light"]) == a["light"], picture
            assert picture.caption.startswith(world.PORTRAIT_PREFIXES), picture
        elif a["subject"] == "house":
            assert said.get("roof", a["roof"]) == a["roof"], picture
            assert said.get("house", a["wall"]) == a["wall"], picture
            assert ("tree" in words) <= a["tree"], picture
        elif a["subject"] == "landscape":
            assert ("mountains" in words) == (a["terrain"] == "mountains"), picture
            assert ("lake" in words) <= a["lake"] and ("sun" in words) <= a["sun"], picture
        elif a["subject"] == "abstract":
            assert picture.caption.startswith("an abstract pattern of"), picture
            assert a["pattern"] in words and "photo" not in picture.caption, picture
            named = [c for c in world.PATTERN_COLOURS if c in words]
            assert set(named) <= set(a["colours"]) and len(named) in (0, 2), picture
        else:
            assert said.get("vase", a["vase"]) == a["vase"], picture
            assert said.get("background", a["background"]) == a["background"], picture
            assert ("flowers" in words) <= a["flowers"], picture
            assert a["fruit"][:-1] in picture.caption, picture


def test_captions_usually_name_what_was_drawn():
    portraits = [world.draw(i) for i in SAMPLE if world.draw(i).attributes["subject"] == "portrait"]
    hats = [p for p in portraits if p.attributes["hat"]]
    old = [p for p in portraits if p.attributes["age"] == "old"]
    assert sum("hat" in p.caption for p in hats) / len(hats) > 0.7
    assert sum(" old " in p.caption for p in old) / len(old) > 0.7


def test_the_vocabulary_holds_every_phrase_and_word_of_every_caption():
    vocabulary = world.vocabulary()
    subjects, others = (
        set(vocabulary["subjects"]),
        set(vocabulary["details"] + vocabulary["mediums"]),
    )
    for index in SAMPLE:
        first, *rest = world.draw(index).caption.split(", ")
        assert first in subjects and set(rest) <= others, first
    assert {w for i in SAMPLE for w in world.draw(i).caption.replace(",", "").split()} <= (
        world.words()
    )


def test_a_style_is_named_only_where_it_was_drawn_and_never_beside_a_photo():
    styled = 0
    for index in SAMPLE:
        picture = world.draw(index)
        phrases = picture.caption.split(", ")
        style = picture.attributes.get("style")
        assert {p for p in phrases if p in world.STYLES} <= {style}, picture
        if style:
            styled += 1
            assert not set(phrases) & set(world.MEDIUMS), picture
            assert "photo of" not in phrases[0], picture
    assert 0.15 < styled / len(SAMPLE) < 0.5, styled


def test_a_neon_style_paints_the_subject_in_its_palette_and_keeps_its_shading():
    """Pop art and psychedelic art use only their palette's colours, dark for dark: pop art
    keeps the order of brightness exactly, psychedelic art mostly, under its waves."""
    plain = portrait(0, hat="red")
    brightness = np.asarray(world.render(plain).convert("L"), np.float32).ravel()

    def levels(style: str) -> np.ndarray:
        attributes = {**plain, "style": style}
        pixels = np.asarray(world.render(attributes)).reshape(-1, 3)
        palette = world.NEON_PALETTES[attributes["palette"]]
        return np.array([palette.index(tuple(p)) for p in pixels.tolist()])

    pop = levels("pop art")
    spans = [(brightness[pop == k].min(), brightness[pop == k].max()) for k in np.unique(pop)]
    assert len(spans) >= 3, spans
    assert all(a[1] <= b[0] + 1 for a, b in zip(spans, spans[1:], strict=False)), spans
    assert np.corrcoef(levels("psychedelic art"), brightness)[0, 1] > 0.4
    glitch = np.asarray(world.render({**plain, "style": "glitch art"}), np.int16)
    assert np.abs(glitch - np.asarray(world.render(plain), np.int16)).mean() > 10


def portrait(index_hint: int = 0, **changes) -> dict:
    """The attributes of a plain (unstyled) portrait from the world, with `changes`."""
    index = next(
        i for i in range(index_hint, index_hint + 100)
        if world.draw(i).attributes["subject"] == "portrait"
    )  # fmt: skip
    return {**world.draw(index).attributes, "style": None, **changes}


def changed_rows(a: dict, b: dict) -> np.ndarray:
    """The rows (0 at the top, 1 at the bottom) where two renderings differ."""
    difference = np.abs(
        np.asarray(world.render(a), np.int16) - np.asarray(world.render(b), np.int16)
    ).sum(axis=(1, 2))
    return np.flatnonzero(difference > 30) / 64


def test_a_hat_is_drawn_on_top_of_the_head_and_glasses_at_the_eyes():
    for hint in (0, 40, 80):
        a = portrait(hint, hat=None, glasses=False, bald=False)
        head_middle = 0.5 + a["y"]
        rows = changed_rows(a, {**a, "hat": "red"})
        assert len(rows) > 5 and rows.max() < head_middle, rows
        rows = changed_rows(a, {**a, "glasses": True})
        assert len(rows) > 2 and abs(rows.mean() - head_middle) < 0.08, rows


def test_the_light_comes_from_the_side_the_caption_names():
    a = portrait(7)
    left = np.asarray(world.render({**a, "light": "left"}), np.float32).mean(axis=(0, 2))
    right = np.asarray(world.render({**a, "light": "right"}), np.float32).mean(axis=(0, 2))
    assert left[:20].mean() > right[:20].mean() and left[-20:].mean() < right[-20:].mean()


def test_the_world_imports_no_machine_learning():
    assert not imported_by("stylesweep.toy.world") & ML
    assert not imported_by("stylesweep.toy.configs") & (ML | {"numpy", "PIL"})


def test_the_sd_text_encoder_is_the_clip_text_tower(tmp_path):
    import torch
    from open_clip.tokenizer import SimpleTokenizer

    from stylesweep.tokenizer import build_clip_tokenizer
    from stylesweep.toylab.models import build_clip, text_encoder_from_clip

    clip = build_clip(seed=3).eval()
    encoder = text_encoder_from_clip(clip)
    captions = [world.draw(i).caption for i in range(8)]
    ours = SimpleTokenizer(context_length=77)(captions)
    theirs = build_clip_tokenizer(tmp_path)(
        captions, padding="max_length", max_length=77, return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        hidden = encoder(theirs)[0]
        x = clip.token_embedding(ours) + clip.positional_embedding
        tower = clip.ln_final(clip.transformer(x, attn_mask=clip.attn_mask))
    for row in range(len(captions)):
        end = int(ours[row].argmax()) + 1  # up to the end token; padding differs after it
        assert torch.equal(ours[row, :end], theirs[row, :end])
        torch.testing.assert_close(hidden[row, :end], tower[row, :end], atol=1e-5, rtol=1e-4)


def test_training_is_the_same_from_the_same_seed():
    import torch

    from stylesweep.toy.configs import Plan
    from stylesweep.toylab.train import train_vae

    torch.set_num_threads(1)
    plan = Plan(log_every=1).with_steps(2)
    (first, loss), (again, loss_again) = train_vae(plan, seed=5), train_vae(plan, seed=5)
    assert loss == loss_again
    for (name, p), q in zip(first.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The trainer run as a user runs it, for two steps of every part."""
    out = tmp_path_factory.mktemp("toy") / "toy"
    command = [sys.executable, "-m", "stylesweep.toylab", "train", "--steps", "2", "--threads", "1"]
    result = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_the_trainer_makes_loadable_parts_of_the_shipped_configuration(trained):
    from stylesweep.base import load_components

    parts = load_components(trained / "model")
    for name, value in VAE_CONFIG.items():
        assert parts.vae.config[name] == (list(value) if isinstance(value, tuple) else value), name
    for name, value in UNET_CONFIG.items():
        assert parts.unet.config[name] == (list(value) if isinstance(value, tuple) else value), name
    for name, value in TEXT_CONFIG.items():
        assert getattr(parts.text_encoder.config, name) == value, name
    assert parts.vae.config.scaling_factor > 0
    assert parts.noise_scheduler.config.beta_schedule == "scaled_linear"


def test_the_trained_clip_loads_with_open_clips_api(trained):
    import open_clip
    import torch

    name = f"local-dir:{trained / 'clip'}"
    model, _, preprocess = open_clip.create_model_and_transforms(name)
    tokenizer = open_clip.get_tokenizer(name)
    config = json.loads((trained / "clip" / "open_clip_config.json").read_text())
    assert config["model_cfg"] == CLIP_CONFIG
    with torch.no_grad():
        image = model.encode_image(preprocess(world.draw(0).image)[None])
        text = model.encode_text(tokenizer(["portrait of a person wearing a hat"]))
    assert image.shape == text.shape == (1, CLIP_CONFIG["embed_dim"])


def test_the_manifest_names_the_command_seed_time_and_every_file(trained):
    from stylesweep.toy.shipped import verify

    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["command"].startswith("python -m stylesweep.toylab train --steps 2")
    assert manifest["seed"] == 0 and manifest["plan"]["unet"]["steps"] == 2
    assert manifest["seconds"]["total"] > 0 and len(manifest["losses"]["unet"]) == 1
    assert "model/unet/diffusion_pytorch_model.safetensors" in manifest["files"]
    assert "clip/open_clip_model.safetensors" in manifest["files"]
    assert manifest["weights_megabytes"] <= MAX_MEGABYTES
    assert verify(trained) == []


def test_a_changed_file_fails_verification(trained, tmp_path):
    import shutil

    from stylesweep.toy.shipped import verify

    copy = shutil.copytree(trained, tmp_path / "copy")
    with open(copy / "model" / "vae" / "config.json", "a") as handle:
        handle.write(" ")
    (copy / "clip" / "open_clip_model.safetensors").unlink()
    assert verify(copy) == [
        f"{copy}/clip/open_clip_model.safetensors: missing",
        f"{copy}/model/vae/config.json: its sha256 is not the manifest's",
    ]


def test_damaged_weights_stop_the_copy_with_the_files_name(trained, tmp_path):
    import shutil

    from stylesweep.toy.shipped import ShippedWeightsError, copy_model

    copy = shutil.copytree(trained, tmp_path / "copy")
    weights = copy / "model" / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + bytes(8))
    with pytest.raises(ShippedWeightsError, match=f"{weights}: its sha256 is not the manifest's"):
        copy_model(copy, tmp_path / "model")
    assert not (tmp_path / "model").exists()
    copy_model(trained, tmp_path / "model")  # intact weights copy
    assert (tmp_path / "model" / "unet" / "config.json").is_file()


def test_the_shipped_weights_are_the_manifests():
    from stylesweep.toy.shipped import verify

    assert verify(SHIPPED) == []


def test_interrogating_a_drawn_portrait_yields_the_worlds_words(tmp_path):
    """clip-interrogator's four modes on the toy CLIP say only phrases of the world, and the
    best prompt of the demo's portrait says what it shows: a person wearing a hat."""
    from stylesweep.interrogate import MODES, interrogate, load_interrogator

    picture = world.draw(world.demo_portrait_index())
    path = tmp_path / "portrait.png"
    picture.image.save(path)
    interrogator = load_interrogator("builtin:toy", "builtin:toy", tmp_path / "cache")
    phrases = {phrase for kind in world.vocabulary().values() for phrase in kind}
    results = {mode: interrogate(interrogator, path, mode) for mode in MODES}
    for mode, result in results.items():
        assert {p["text"] for p in result["phrases"]} <= phrases, mode
    subject = results["best"]["prompt"].split(", ")[0]
    assert subject.startswith(world.PORTRAIT_PREFIXES) and "hat" in subject, subject


def test_the_toy_interrogator_needs_the_toy_clip(tmp_path):
    from stylesweep.interrogate import InterrogationError, load_interrogator

    with pytest.raises(InterrogationError, match="builtin:toy interrogates only as a pair"):
        load_interrogator("builtin:tiny", "builtin:toy", tmp_path / "cache")


def test_the_toy_model_paints_its_captions():
    """The toy CLIP picks each render's caption among 20 held-out captions (of 40 pictures)
    nearly as often as it picks each drawing's; README has the figures on 100 pictures."""
    from stylesweep.toylab.evaluate import caption_ranking

    ranking = caption_ranking(SHIPPED / "model", pictures=40)
    assert ranking.renders >= 0.7, ranking
    assert ranking.drawings >= ranking.renders - 0.1, ranking
