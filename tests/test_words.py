"""Words first: ranking the stills' descriptors, the words control's key, and the sentence."""

import pytest
import torch

from stylesweep.words import (
    interrogate_stills,
    rank_descriptors,
    style_words,
    words_key,
    words_sentence,
)


def similarities(rows: list[list[float]], labels: list[str]):
    return labels, torch.tensor(rows)


def test_descriptors_rank_by_lift_over_the_portrait():
    # "photo" fits the stills best, but fits the portrait better still: it drops out
    stills = {"mediums": similarities([[0.5, 0.3, 0.1], [0.5, 0.2, 0.1]],
                                      ["photo", "psychedelic art", "pop art"])}  # fmt: skip
    portrait = {"mediums": similarities([[0.7, 0.0, 0.1]], ["photo", "psychedelic art", "pop art"])}
    ranked = rank_descriptors(stills, portrait)["mediums"]
    assert [r["text"] for r in ranked] == ["psychedelic art", "pop art", "photo"]
    assert ranked[0] == {"text": "psychedelic art", "topped": 0, "similarity": 0.25, "lift": 0.25}
    assert ranked[2]["topped"] == 2  # it is still each still's best medium
    assert [r["text"] for r in rank_descriptors(stills, None)["mediums"]][0] == "photo"


def test_style_words_take_each_kind_in_turn_without_repeats():
    descriptors = {
        "mediums": [{"text": "psychedelic art"}, {"text": "abstract art"}],
        "flavors": [{"text": "colorful"}, {"text": "psychedelic art"}, {"text": "rainbow"}],
        "artists": [{"text": "by Victor Moscoso"}],
    }
    assert style_words(descriptors) == [
        "by Victor Moscoso", "psychedelic art", "colorful", "abstract art", "rainbow",
    ]  # fmt: skip
    assert (
        words_key({"descriptors": descriptors}, 3) == "by Victor Moscoso, psychedelic art, colorful"
    )
    with pytest.raises(ValueError, match="words_baseline: 0"):
        words_key({"descriptors": {"mediums": []}}, 3)


def summary_of(values: dict) -> dict:
    return {
        model: {"style_csd": {"mean": style}, "content": {"mean": content}}
        for model, (style, content) in values.items()
    }


def test_the_sentence_places_the_words_among_the_checkpoints_as_trained():
    summary = summary_of({
        "base": (0.2, None), "words": (0.4, 0.6),
        "a/step-1": (0.3, 0.9), "a/step-2": (0.5, 0.8), "a/step-2@0.5": (0.1, 0.95),
    })  # fmt: skip
    labels = {"style_csd": "style (CSD)", "content": "content kept"}
    sentence = words_sentence(summary, list(summary), "style_csd", "content", labels)
    assert sentence == (
        "With the stills' words in place of the key, the base model reached style (CSD) 0.400 "
        "(with the key: 0.200), more than 1 of the 2 checkpoints as trained, which range from "
        "0.300 (a/step-1) to 0.500 (a/step-2); content kept: 0.600 with the words, 0.800 to "
        "0.900 with the checkpoints."
    )
    del summary["words"]
    assert words_sentence(summary, list(summary), "style_csd", "content", labels) == ""


def test_every_still_is_interrogated_and_the_words_name_the_worlds_style(tmp_path):
    """The toy world's stills in its psychedelic style: its words say so."""
    import json

    from stylesweep.interrogate import load_interrogator
    from stylesweep.toy import world

    dataset = tmp_path / "dataset"
    dataset.mkdir()
    images = []
    for index in world.held_out_indices(400):
        picture = world.draw(index)
        if picture.attributes.get("style") == "psychedelic art" and len(images) < 4:
            picture.image.save(dataset / f"{index}.png")
            images.append({"file": f"{index}.png", "source": f"{index}.png"})
    (dataset / "manifest.json").write_text(json.dumps({"images": images}))
    portrait = tmp_path / "portrait.png"
    world.draw(world.demo_portrait_index()).image.save(portrait)
    settings = {"clip_model": "builtin:toy", "caption_model": "builtin:toy", "mode": "fast"}
    interrogator = load_interrogator("builtin:toy", "builtin:toy", tmp_path / "labels")
    stills = interrogate_stills(
        interrogator, dataset_dir=dataset, portraits=[portrait], settings=settings
    )
    assert [s["file"] for s in stills["stills"]] == [i["file"] for i in images]
    assert all(s["prompt"] for s in stills["stills"])
    assert stills["words"][0] == "psychedelic art"
    assert set(stills["descriptors"]) == {"mediums", "flavors"}  # the toy has no artists
