"""The animate stage: Deforum's meaning of strength, img2img as diffusers does it, the plan of
frames, a render, and a resume that gives the same bytes."""

from __future__ import annotations

import io
import json
import shutil

import av
import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline
from PIL import Image

from stylesweep.animate import render
from stylesweep.animate.plan import (
    AnimationError,
    deforum_strength,
    diffused_frames,
    frame_seeds,
    models_used,
    plan_animation,
)
from stylesweep.conditioning import encode_prompts
from stylesweep.files import sha256_file
from stylesweep.sample import GridRenderer, Recipe, make_scheduler

from .conftest import animation_settings as animation
from .conftest import render_killed

TEXT = {"clip_skip": 1, "emphasis": "a1111", "wrap_length": 20, "pad_conds": False}
MODELS = {"base": {"hash": "b", "key": "vsynth"}, "run/step-2": {"hash": "c", "key": "zq"}}


def test_deforum_strength_is_the_share_of_the_previous_frame_kept():
    assert deforum_strength(0.65) == pytest.approx(0.35)
    assert deforum_strength(1.0) == 0.0 and deforum_strength(0.0) == 1.0
    assert deforum_strength(1.7) == 0.0 and deforum_strength(-0.2) == 1.0


def test_the_plan_follows_the_prompt_model_and_seed_schedules():
    settings = animation(
        models={0: "base", 2: "run/step-2"},
        prompts={0: "{key} one", 1: "({key}:1.2) two"},
        max_frames=4, seed=10, cfg_scale="0: (3), 3: (9)",
    )  # fmt: skip
    plan = plan_animation("a", settings, MODELS, common={})
    assert [f["model"] for f in plan] == ["base", "base", "run/step-2", "run/step-2"]
    assert [f["prompt"] for f in plan] == ["vsynth one", "(vsynth:1.2) two", "(zq:1.2) two",
                                           "(zq:1.2) two"]  # fmt: skip
    assert [f["seed"] for f in plan] == [10, 11, 12, 13]
    assert [f["cfg_scale"] for f in plan] == [3, 5, 7, 9]
    assert {f["strength"] for f in plan} == {0.65}  # Deforum's meaning, kept as written


def test_seed_behaviours():
    assert frame_seeds(animation(seed=4, seed_behavior="fixed"), 3, "a") == [4, 4, 4]
    random = frame_seeds(animation(seed=4, seed_behavior="random"), 5, "a")
    assert len(set(random)) == 5
    assert frame_seeds(animation(seed=4, seed_behavior="random"), 3, "a") == random[:3]
    scheduled = animation(seed=4, seed_behavior="schedule", seed_schedule="0: (s*10+t)")
    assert frame_seeds(scheduled, 3, "a") == [40, 41, 42]


def test_cadence_diffuses_every_nth_frame_and_the_last():
    assert diffused_frames(7, 3) == [0, 3, 6]
    assert diffused_frames(8, 3) == [0, 3, 6, 7]
    plan = plan_animation("a", animation(cadence=3, max_frames=4), MODELS, common={})
    assert [f["kind"] for f in plan] == ["diffused", "tween", "tween", "diffused"]
    assert plan[1]["between"] == [0, 3] and plan[2]["weight"] == pytest.approx(2 / 3)


def test_a_model_not_in_the_sweep_is_named_with_the_models():
    with pytest.raises(AnimationError, match=r"'te~9/step-1'.*models: base, run/step-2"):
        plan_animation("a", animation(models={0: "base", 5: "te~9/step-1"}), MODELS, common={})


def test_a_zoom_at_or_below_0_or_steps_below_1_name_the_key_and_the_frame():
    with pytest.raises(AnimationError, match=r"a\.zoom: -0\.1 at frame 2; zoom must be above 0"):
        plan_animation("a", animation(zoom="0: (1.0), 2: (-0.1)"), MODELS, common={})
    with pytest.raises(AnimationError, match=r"a\.steps: 0 at frame 0"):
        plan_animation("a", animation(steps=0), MODELS, common={})


def test_a_strength_outside_0_to_1_names_the_key_and_the_frame():
    # refused rather than clamped: the recipe would say 1.5 where 1.0 was rendered
    with pytest.raises(
        AnimationError, match=r"a\.strength: 1\.5 at frame 2; strength is the share"
    ):
        plan_animation("a", animation(strength="0: (0.5), 2: (1.5)"), MODELS, common={})
    with pytest.raises(AnimationError, match=r"a\.strength: -0\.1 at frame 0.*from 0 \(none\)"):
        plan_animation("a", animation(strength="0: (-0.1)"), MODELS, common={})
    plan = plan_animation("a", animation(strength="0: (0), 2: (1)"), MODELS, common={})
    assert [f["strength"] for f in plan] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"seed_behavior": "schedule", "seed_schedule": "0: (1e30)"},
            r"seed_schedule: seed 1e\+30 at frame 0",
        ),
        (
            {"seed_behavior": "schedule", "seed_schedule": "0: (5), 1: (-3)"},
            r"seed_schedule: seed -3 at frame 1",
        ),
        ({"seed": 2**64 - 2}, rf"a\.seed: seed {2**64} at frame 2"),
    ],
    ids=["huge", "negative", "iter-past-the-end"],
)
def test_a_seed_a_generator_cannot_take_names_the_key_frame_and_range(settings, message):
    with pytest.raises(AnimationError, match=rf"{message} is out of range.* from 0 to 2\*\*64 - 1"):
        plan_animation("a", animation(**settings), MODELS, common={})


def test_models_switched_in_after_the_last_frame_are_not_used():
    settings = animation(models={0: "base", 2: "run/step-2", 9: "gone/step-1"}, max_frames=4)
    assert models_used(settings, "a") == ["base", "run/step-2"]


def test_a_bad_schedule_names_the_key_and_the_position():
    with pytest.raises(AnimationError, match=r"animate\.animations\.a\.zoom.*position"):
        plan_animation("a", animation(zoom="0: (1.0), 10 (1.1)"), MODELS, common={})


@pytest.fixture(scope="module")
def renderer(tiny_model):
    return GridRenderer(tiny_model, "cpu")


@pytest.mark.parametrize("sampler", ["Euler", "Euler a"])
def test_img2img_is_diffusers_img2img(tiny_model, renderer, sampler):
    start = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    job = Recipe(model="base", model_hash="b", variant="v", prompt="a (vsynth:1.2) pattern",
                 negative="", seed=5, cfg_scale=6.0, sampler=sampler, steps=10, width=64,
                 height=64, clip_skip=1)  # fmt: skip
    (ours,) = renderer.denoise([job], init=render.to_pixels(start), strength=0.35)
    pipeline = StableDiffusionImg2ImgPipeline.from_pretrained(tiny_model, safety_checker=None)
    pipeline.scheduler = make_scheduler(sampler, pipeline.scheduler.config)
    cond, uncond = encode_prompts(job.prompt, job.negative, pipeline.tokenizer,
                                  pipeline.text_encoder)  # fmt: skip
    stock = pipeline(
        image=Image.fromarray(start), prompt_embeds=cond, negative_prompt_embeds=uncond,
        strength=0.35, guidance_scale=6.0, num_inference_steps=10,
        generator=[torch.Generator().manual_seed(5)],
    ).images[0]  # fmt: skip
    difference = np.abs(np.asarray(ours, np.int16) - np.asarray(stock, np.int16))
    assert difference.max() <= 1


def render_into(out_dir, tiny_model, **overrides):
    return render.render_animation(
        name="a", settings=animation(**overrides),
        models={"base": {"checkpoint": None, "key": "vsynth"}}, base_dir=tiny_model,
        base_hash="tiny", text=TEXT, out_dir=out_dir,
    )  # fmt: skip


def frame_bytes(out_dir, count):
    return [render.frame_path(out_dir, frame).read_bytes() for frame in range(count)]


def test_a_two_frame_render_writes_frames_video_preview_and_settings(tiny_model, tmp_path):
    made = render_into(tmp_path, tiny_model, max_frames=2)
    assert made["rendered"] == 2 and made["frames"] == 2
    with av.open(str(tmp_path / "animation.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(stream)) == 2
    with Image.open(tmp_path / "preview.gif") as preview:
        assert preview.n_frames == 2 and preview.info["loop"] == 0
    recipe = render.saved_recipe(render.frame_path(tmp_path, 1))
    assert recipe["prompt"] == "vsynth, a pattern" and recipe["zoom"] == pytest.approx(1.1)
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["recipes"][1] == recipe and saved["settings"]["max_frames"] == 2
    first, second = (np.asarray(Image.open(render.frame_path(tmp_path, i))) for i in (0, 1))
    assert np.abs(first.astype(int) - second).mean() > 1  # the second frame moved on


def test_a_killed_render_resumes_with_the_same_bytes(tiny_model, tmp_path, monkeypatch):
    render_into(tmp_path / "whole", tiny_model, max_frames=4)
    render_killed(
        monkeypatch, 2, lambda: render_into(tmp_path / "killed", tiny_model, max_frames=4)
    )
    resumed = render_into(tmp_path / "killed", tiny_model, max_frames=4)
    assert resumed["rendered"] == 2 and resumed["reused"] == 2
    assert frame_bytes(tmp_path / "killed", 4) == frame_bytes(tmp_path / "whole", 4)
    assert sha256_file(tmp_path / "killed" / "animation.mp4") == sha256_file(
        tmp_path / "whole" / "animation.mp4"
    )


def test_a_longer_animation_renders_only_the_new_frames(tiny_model, tmp_path):
    render_into(tmp_path / "whole", tiny_model, max_frames=4)
    render_into(tmp_path / "grown", tiny_model, max_frames=2)
    grown = render_into(tmp_path / "grown", tiny_model, max_frames=4)
    assert grown["rendered"] == 2
    assert frame_bytes(tmp_path / "grown", 4) == frame_bytes(tmp_path / "whole", 4)
    changed = render_into(tmp_path / "grown", tiny_model, max_frames=4, angle="0: (5), 2: (9)")
    assert changed["rendered"] == 3 and changed["reused"] == 1  # frame 0 kept its recipe


def test_cadence_blends_the_frames_between(tiny_model, tmp_path):
    render_into(tmp_path, tiny_model, max_frames=3, cadence=2, zoom="0: (1.0)", angle=0)
    first, middle, last = (np.asarray(Image.open(render.frame_path(tmp_path, i)), np.int16)
                           for i in range(3))  # fmt: skip
    assert np.abs(middle - (first + last) / 2).max() <= 1  # no motion: the plain average


def test_cadence_blends_both_frames_where_the_camera_is(tiny_model, tmp_path):
    """With motion, the frame between is the first moved on one frame and the last moved
    back one frame, averaged: both where the camera is at the middle frame."""
    from stylesweep.animate.frames import unwarp, warp

    render_into(tmp_path, tiny_model, max_frames=3, cadence=2, zoom=1.1, angle=6)
    first, middle, last = (render.load_frame(tmp_path, i) for i in range(3))
    moved_on, moved_back = warp(first, 1.1, 6, 0, 0), unwarp(last, [(1.1, 6, 0, 0)])
    expected = (moved_on.astype(np.int16) + moved_back) / 2
    assert np.abs(middle - expected).max() <= 1
    assert np.abs(middle - (first.astype(np.int16) + last) / 2).max() > 10  # not in place


def test_a_frame_between_is_not_kept_beside_a_newer_next_frame(tiny_model, tmp_path, monkeypatch):
    """Killed after the next diffused frame was saved with a new prompt, but before the
    frames between it and the one before were saved again: those are made again."""
    render_into(tmp_path / "whole", tiny_model, max_frames=3, cadence=2,
                prompts={0: "{key}", 2: "{key}, waves"})  # fmt: skip
    render_into(tmp_path / "edited", tiny_model, max_frames=3, cadence=2)
    original = render.save_frame

    def dies_after_the_next_frame(pixels, out_dir, recipe):
        original(pixels, out_dir, recipe)
        if recipe["frame"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(render, "save_frame", dies_after_the_next_frame)
    with pytest.raises(KeyboardInterrupt):
        render_into(tmp_path / "edited", tiny_model, max_frames=3, cadence=2,
                    prompts={0: "{key}", 2: "{key}, waves"})  # fmt: skip
    monkeypatch.setattr(render, "save_frame", original)
    render_into(tmp_path / "edited", tiny_model, max_frames=3, cadence=2,
                prompts={0: "{key}", 2: "{key}, waves"})  # fmt: skip
    assert frame_bytes(tmp_path / "edited", 3) == frame_bytes(tmp_path / "whole", 3)


def test_style_strength_fades_a_checkpoint_in_frame_by_frame(tiny_model, tmp_path):
    """At style strength 0 a frame is the base model's; a resume from a frame in the
    middle of the fade gives the same bytes."""
    from tests.test_strength import dreambooth_checkpoint

    checkpoint = dreambooth_checkpoint(tiny_model, tmp_path / "db" / "step-1")
    models = {"base": {"checkpoint": None, "key": "vsynth"},
              "db/step-1": {"checkpoint": str(checkpoint), "key": "vsynth"}}  # fmt: skip

    def fade(out_dir, style_strength, model="db/step-1", max_frames=3):
        return render.render_animation(
            name="a", settings=animation(models=model, max_frames=max_frames, strength=0.3,
                                         style_strength=style_strength),
            models=models, base_dir=tiny_model, base_hash="tiny", text=TEXT, out_dir=out_dir,
        )  # fmt: skip

    fade(tmp_path / "base", 1, model="base", max_frames=1)
    fade(tmp_path / "trained", 1, max_frames=1)
    fade(tmp_path / "fade", "0: (0), 2: (1)")
    base, trained, faded = (frame_bytes(tmp_path / name, 1)[0] for name in ("base", "trained",
                                                                            "fade"))  # fmt: skip
    pixels = [np.asarray(Image.open(io.BytesIO(b)), dtype=int) for b in (base, trained, faded)]
    assert np.abs(pixels[2] - pixels[0]).max() <= 1 and np.abs(pixels[1] - pixels[0]).max() > 10
    recipes = [render.saved_recipe(render.frame_path(tmp_path / "fade", i)) for i in range(3)]
    assert [r.get("style_strength", 1.0) for r in recipes] == [0.0, 0.5, 1.0]
    shutil.copytree(tmp_path / "fade", tmp_path / "resumed")
    render.frame_path(tmp_path / "resumed", 2).unlink()  # as if killed before the last frame
    assert fade(tmp_path / "resumed", "0: (0), 2: (1)")["rendered"] == 1  # a fresh renderer
    assert frame_bytes(tmp_path / "resumed", 3) == frame_bytes(tmp_path / "fade", 3)
