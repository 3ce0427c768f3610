import re

import pytest

from stylesweep.prompts import (
    PromptError,
    check_placements,
    emphasize,
    infotext,
    insert_key,
    make_variants,
    parse_emphasis,
)
from stylesweep.subjects import SD15_SUBJECTS, TOY_SUBJECTS, SubjectError, resolve_subjects

from .conftest import placing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a (b:1.5) c", [("a ", 1.0), ("b", 1.5), (" c", 1.0)]),
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        ("[less]", [("less", 1 / 1.1)]),
        ("((twice))", [("twice", 1.1 * 1.1)]),
        ("\\(literal\\]", [("(literal]", 1.0)]),
        # a lone backslash escapes nothing and is dropped; an escaped one is kept, once
        ("vsynth \\ portrait", [("vsynth  portrait", 1.0)]),
        ("a \\\\ b", [("a \\ b", 1.0)]),
        ("\\", [("", 1.0)]),
        ("a\\nb", [("anb", 1.0)]),
        ("(a \\ b) c\\", [("a  b", 1.1), (" c", 1.0)]),
        ("a:b", [("a:b", 1.0)]),
        ("", [("", 1.0)]),
        ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
        # AUTOMATIC1111's own worked example (modules/prompt_parser.py)
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.1 * 1.1 * 1.3),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.1**4),
                (".", 1.1),
            ],
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:prompt has an unclosed bracket")  # A1111's example has one
def test_parse_emphasis_matches_automatic1111(text, expected):
    parsed = parse_emphasis(text)
    assert [t for t, _ in parsed] == [t for t, _ in expected]
    assert [w for _, w in parsed] == pytest.approx([w for _, w in expected])


def test_unbalanced_bracket_is_closed_at_the_end_with_a_warning_naming_the_column():
    with pytest.warns(UserWarning, match="column 3"):
        assert parse_emphasis("a (b c") == [("a ", 1.0), ("b c", pytest.approx(1.1))]


def test_emphasize_writes_a1111_syntax_and_rejects_bad_weights():
    assert emphasize("vsynth", 1.0) == "vsynth"
    assert emphasize("vsynth", 1.2) == "(vsynth:1.2)"
    for weight in (0, -1, 3.5):
        with pytest.raises(PromptError):
            emphasize("vsynth", weight)


def test_insert_key_at_start_middle_end_and_template():
    base = "a photo of a woman, space suit, nasa, highly detailed, studio light"
    assert insert_key(base, "K", "start") == "K, " + base
    assert insert_key(base, "K", "end") == base + ", K"
    assert insert_key(base, "K", "middle") == (
        # boundaries at characters 18, 30, 36, 54 of 68: 36 is nearest the middle
        "a photo of a woman, space suit, nasa, K, highly detailed, studio light"
    )
    assert insert_key(base, "K", "painting of {key}") == "painting of K"
    assert insert_key("one phrase", "K", "middle") == "one phrase, K"
    with pytest.raises(PromptError, match="unknown key placement"):
        insert_key(base, "K", "top")


def test_a_template_without_key_is_named_with_the_fix():
    check_placements(["start", "middle", "end", "painting of {key}"])
    fix = r"lacks \{key\}.*write e\.g\. '\{key\}, my style, a portrait'$"
    with pytest.raises(PromptError, match=rf"^'my style, a portrait' is not start, middle.*{fix}"):
        check_placements(["start", "my style, a portrait"])


def test_variants_cover_placements_times_weights_and_parse_back_to_the_weight():
    variants = make_variants(
        "a b, c d, e f", "vsynth", placing(["start", "middle", "end"], [1.0, 1.3])
    )
    assert [v["name"] for v in variants] == [
        "start_w1", "start_w1.3", "middle_w1", "middle_w1.3", "end_w1", "end_w1.3",
    ]  # fmt: skip
    for variant in variants:
        (weight,) = [w for t, w in parse_emphasis(variant["prompt"]) if "vsynth" in t]
        assert weight == pytest.approx(variant["weight"])
    with pytest.raises(PromptError, match="empty"):
        make_variants("a b", " ", placing(["start"], [1.0]))


def test_infotext_is_automatic1111_format():
    text = infotext(
        "a (cat:1.2)",
        "blurry",
        steps=20,
        sampler="Euler a",
        cfg_scale=7.0,
        seed=42,
        width=512,
        height=512,
        model_hash="0123456789abcdef",
        model_name="te~0.1/step-20",
    )
    assert text.splitlines() == [
        "a (cat:1.2)",
        "Negative prompt: blurry",
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, "
        "Model hash: 0123456789, Model: te~0.1/step-20",
    ]
    no_negative = infotext(
        "p", "", steps=1, sampler="DDIM", cfg_scale=3.5, seed=1, width=64, height=64,
        model_hash="ab", model_name="base",
    )  # fmt: skip
    assert "Negative prompt" not in no_negative


def test_several_base_prompts_get_numbered_variants():
    variants = make_variants(["a b, c d", "e f, g h"], "vsynth", placing(["end"], [1.0, 1.2]))
    assert [v["name"] for v in variants] == ["p1_end_w1", "p1_end_w1.2", "p2_end_w1", "p2_end_w1.2"]
    assert variants[3]["prompt"] == "e f, g h, (vsynth:1.2)"


def test_subjects_get_the_key_at_every_placement_with_their_own_weights():
    variants = make_variants(
        "a b, c d", "vsynth",
        placing(["start", "end"], [1.0, 1.3], subjects={"still life": "e f, g h"},
                subject_weights=[1.0]),
    )  # fmt: skip
    assert [(v["name"], v["subject"]) for v in variants] == [
        ("start_w1", "portrait"), ("start_w1.3", "portrait"),
        ("end_w1", "portrait"), ("end_w1.3", "portrait"),
        ("still-life_start_w1", "still life"), ("still-life_end_w1", "still life"),
    ]  # fmt: skip
    assert variants[-1]["prompt"] == "e f, g h, vsynth"
    assert variants[-1]["base_prompt"] == "e f, g h"
    # without their own weights, subjects take the portrait's
    assert len(make_variants("a", "k", placing(["end"], [1.0, 1.3], subjects={"house": "h"}))) == 4
    several = make_variants(["a", "b"], "k", placing(["end"], [1.0], subjects={"house": "h"}))
    assert [v["subject"] for v in several] == ["portrait 1", "portrait 2", "house"]


def test_subject_suites_and_the_names_a_subject_cannot_take():
    assert list(resolve_subjects("builtin:toy")) == ["house", "landscape", "still life"]
    assert list(resolve_subjects("builtin:sd15")) == [
        "person", "animal", "building", "landscape", "object",
    ]  # fmt: skip
    assert resolve_subjects(None) == {} == resolve_subjects({})
    with pytest.raises(SubjectError, match="unknown subject suite 'builtin:sdxl'"):
        resolve_subjects("builtin:sdxl")
    for bad, reason in [
        ({"portrait 2": "x"}, "taken"), ({"All": "x"}, "taken"), ({"!!": "x"}, "no letter"),
        ({"a b": "x", "a-b": "y"}, "repeat"), ({"house": " "}, "empty prompt"),
    ]:  # fmt: skip
        with pytest.raises(SubjectError, match=reason):
            resolve_subjects(bad)


def test_the_toy_subjects_speak_the_toy_worlds_words_and_have_a_middle():
    from stylesweep.toy import world

    known = world.words()
    for name, prompt in resolve_subjects("builtin:toy").items():
        unknown = set(re.findall(r"[a-z]+", prompt.lower())) - known
        assert not unknown, f"{name}: {unknown}"
    for prompt in [*TOY_SUBJECTS.values(), *SD15_SUBJECTS.values()]:
        assert prompt.count(",") >= 1  # the key's middle placement falls between phrases
