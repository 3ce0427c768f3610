import pytest
from PIL import Image

from stylesweep.interrogate import (
    InterrogationError,
    interrogate,
    load_interrogator,
    make_base_prompts,
)
from stylesweep.sources import astronaut_path

SETTINGS = {"clip_model": "builtin:tiny", "caption_model": "builtin:tiny", "mode": "fast"}


def test_label_cache_is_built_once_and_reused(interrogator, cache):
    files = sorted(cache.glob("*.safetensors"))
    assert {f.name.split("_")[-1] for f in files} >= {"flavors.safetensors", "artists.safetensors"}
    before = {f: f.stat().st_mtime_ns for f in files}
    load_interrogator("builtin:tiny", "builtin:tiny", cache)
    assert {f: f.stat().st_mtime_ns for f in sorted(cache.glob("*.safetensors"))} == before


@pytest.mark.parametrize("mode", ["fast", "classic", "negative", "best"])
def test_every_mode_gives_a_prompt_with_phrase_scores(interrogator, mode):
    result = interrogate(interrogator, astronaut_path(), mode)
    assert result["prompt"] and result["mode"] == mode
    assert [p["text"] for p in result["phrases"]] == [
        p.strip() for p in result["prompt"].split(",") if p.strip()
    ]
    assert all(-1 <= p["similarity"] <= 1 for p in result["phrases"])
    assert (result["caption"] is None) == (mode == "negative")


def test_same_portrait_same_prompt(interrogator):
    assert interrogate(interrogator, astronaut_path(), "fast") == interrogate(
        interrogator, astronaut_path(), "fast"
    )


def test_several_portraits_give_one_base_prompt_each(cache, tmp_path):
    second = tmp_path / "second.png"
    Image.open(astronaut_path()).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(second)
    prompts = make_base_prompts(
        texts=[], portraits=[astronaut_path(), second], settings=SETTINGS, cache_dir=cache,
        device="cpu",
    )  # fmt: skip
    assert [p["portrait"] for p in prompts] == [str(astronaut_path()), str(second)]
    assert all(p["source"] == "clip-interrogator" for p in prompts)


def test_hand_written_prompts_skip_interrogation(tmp_path):
    prompts = make_base_prompts(
        texts=["a photo of  a woman,\n studio light", " "], portraits=[], settings=SETTINGS,
        cache_dir=tmp_path / "unused", device="cpu",
    )  # fmt: skip
    assert prompts == [{"prompt": "a photo of a woman, studio light", "source": "config",
                        "mode": None}]  # fmt: skip
    assert not (tmp_path / "unused").exists()


def test_a_portrait_that_is_not_an_image_is_named(interrogator, tmp_path):
    bad = tmp_path / "portrait.jpg"
    bad.write_text("not a picture")
    with pytest.raises(InterrogationError, match="portrait .*portrait.jpg is not a readable image"):
        interrogate(interrogator, bad, "fast")


def test_without_a_caption_model_a_caption_is_needed(cache):
    bare = load_interrogator("builtin:tiny", None, cache)
    with pytest.raises(InterrogationError, match="prompts.interrogator.caption"):
        interrogate(bare, astronaut_path(), "fast")
    result = interrogate(bare, astronaut_path(), "classic", caption="a portrait photo")
    assert result["prompt"].startswith("a portrait photo")


@pytest.mark.parametrize(
    ("clip_model", "caption_model"), [("builtin:tiny", "blip-base"), ("ViT-B-32/openai", None)]
)
def test_real_models_missing_from_the_cache_say_how_to_fetch_them(tmp_path, clip_model,
                                                                  caption_model):  # fmt: skip
    with pytest.raises(InterrogationError, match="download them once with network access"):
        load_interrogator(clip_model, caption_model, tmp_path)
