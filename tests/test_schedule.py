"""Deforum-style keyframe schedules: parsing, Deforum's in-betweens, and what is refused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from stylesweep.animate.schedule import (
    NAMES,
    ScheduleError,
    check_expression,
    evaluate_schedule,
    is_number,
    parse_keyframes,
    value_at,
)

NAME = "animations.spin.zoom"


def evaluate(text, max_frames=20, seed=0):
    return evaluate_schedule(text, max_frames, seed, NAME)


def test_keyframes_parse_to_frame_and_value_text():
    assert parse_keyframes("0: (1.0), 30: (1.02)", NAME) == {0: "1.0", 30: "1.02"}
    assert parse_keyframes(" 0 :( 1.0 ) ,\n 30:(1.02) ", NAME) == {0: "1.0", 30: "1.02"}


def test_values_may_nest_parentheses():
    assert parse_keyframes("0: (10*sin(2*3.14*t/10)), 5: ((1))", NAME) == {
        0: "10*sin(2*3.14*t/10)",
        5: "(1)",
    }


def test_a_trailing_comma_is_allowed():
    assert parse_keyframes("0: (1), 10: (2),", NAME) == {0: "1", 10: "2"}


@pytest.mark.parametrize("bare", ["1.5", " 1.5 ", 1.5])
def test_a_bare_number_is_frame_0(bare):
    if isinstance(bare, str):
        assert parse_keyframes(bare, NAME) == {0: "1.5"}
    assert evaluate(bare, max_frames=4).tolist() == [1.5] * 4


def test_an_integer_schedule_is_frame_0():
    assert evaluate(7, max_frames=3).tolist() == [7.0, 7.0, 7.0]


def test_numeric_keyframes_are_interpolated_and_held_after_the_last():
    values = evaluate("0: (1.0), 10: (2.0)", max_frames=15)
    assert values.dtype == np.float64 and values.shape == (15,)
    assert values[5] == pytest.approx(1.5)
    assert values[0] == 1.0 and values[10] == 2.0
    np.testing.assert_allclose(values[10:], 2.0)
    np.testing.assert_allclose(values[:11], np.linspace(1.0, 2.0, 11))


def test_the_first_keyframe_value_holds_before_it():
    values = evaluate("5: (3), 8: (4)", max_frames=10)
    np.testing.assert_allclose(values[:6], 3.0)
    assert values[7] == pytest.approx(4 - 1 / 3)
    np.testing.assert_allclose(values[8:], 4.0)


def test_an_expression_is_evaluated_at_every_frame():
    values = evaluate("0: (10*sin(2*3.14*t/10))", max_frames=30)
    t = np.arange(30)
    np.testing.assert_allclose(values, 10 * np.sin(2 * 3.14 * t / 10), rtol=1e-12, atol=1e-12)


def test_an_expression_runs_until_the_next_numeric_keyframe():
    # Deforum's loop: t*2 sets frames 0-4, frame 5 is 100, then 6-9 interpolate to frame 10's
    # expression, which sets 10 to the end.
    values = evaluate("0: (t*2), 5: (100), 10: (t+1)", max_frames=14)
    np.testing.assert_allclose(values[:5], [0, 2, 4, 6, 8])
    assert values[5] == 100
    np.testing.assert_allclose(values[5:11], np.linspace(100, 11, 6))
    np.testing.assert_allclose(values[10:], [11, 12, 13, 14])


def test_a_numeric_keyframe_after_an_expression_sets_only_its_frame():
    values = evaluate("0: (1), 4: (t), 8: (0)", max_frames=12)
    # frames 1-3 interpolate from 1 to frame 4's expression value (4)
    np.testing.assert_allclose(values[:5], np.linspace(1, 4, 5))
    np.testing.assert_allclose(values[4:8], [4, 5, 6, 7])
    np.testing.assert_allclose(values[8:], 0)


def test_a_constant_expression_holds_over_its_span():
    # (1+1) is an expression, not a number: it sets every frame to the next keyframe
    values = evaluate("0: (1+1), 5: (10)", max_frames=8)
    np.testing.assert_allclose(values, [2, 2, 2, 2, 2, 10, 10, 10])


def test_max_f_is_the_last_frame_and_s_the_seed():
    np.testing.assert_allclose(evaluate("0: (t/max_f)", max_frames=5), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(evaluate("0: (s*2+t)", max_frames=3, seed=21), [42, 43, 44])


def test_keyframes_at_or_beyond_max_frames_are_ignored():
    values = evaluate("0: (0), 10: (10), 20: (1000)", max_frames=15)
    np.testing.assert_allclose(values[:11], np.arange(11))
    np.testing.assert_allclose(values[10:], 10)
    with pytest.raises(ScheduleError, match=rf"{NAME}.*max_frames \(15\)"):
        evaluate("15: (1), 20: (2)", max_frames=15)


def test_an_unbalanced_parenthesis_is_refused_with_its_position():
    with pytest.raises(ScheduleError, match=rf"{NAME}: unbalanced parenthesis.*position 3") as info:
        parse_keyframes("0: (1.0, 30: (1.02)", NAME)
    assert "0: (1.0, 30: (1.02)" in str(info.value)
    with pytest.raises(ScheduleError, match=r"unbalanced parenthesis.*position 6"):
        parse_keyframes("0: (1))", NAME)


@pytest.mark.parametrize(
    ("text", "problem", "position"),
    [
        ("0 (1)", "missing colon", 2),
        ("0: (1), 10 (2)", "missing colon", 11),
        ("(1)", "expected a frame number", 0),
        ("sin(t)", "expected a frame number", 0),
        ("0: 1", "does not start with '\\('", 3),
        ("0: (1) 10: (2)", "expected ','", 7),
        ("0: (1), 0: (2)", "frame 0 is given twice", 8),
        ("0: ( )", "empty value", 3),
    ],
)
def test_malformed_schedules_are_refused_with_the_position(text, problem, position):
    with pytest.raises(ScheduleError, match=rf"{NAME}: .*{problem}.*position {position}"):
        parse_keyframes(text, NAME)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_an_empty_schedule_is_refused(text):
    with pytest.raises(ScheduleError, match=rf"{NAME}: the schedule is empty"):
        evaluate(text)


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("x", "'x'"),
        ("sin(t) + max_frames", "'max_frames'"),
        ("__import__('os')", "'__import__'"),
        ("os.system('ls')", "'os'"),
        ("open('f')", "'open'"),
        ("foo(t)", "'foo'"),
    ],
)
def test_names_other_than_t_max_f_and_s_are_refused_and_named(expression, named):
    with pytest.raises(ScheduleError, match=rf"{NAME}.*{named}.*t, max_f, s"):
        check_expression(expression, NAME)
    with pytest.raises(ScheduleError, match=named):
        evaluate(f"0: ({expression})")


@pytest.mark.parametrize("expression", ["t[0]", "lambda: 1", "t if s else 1", "sum(t)", "(1, 2)"])
def test_what_numexpr_refuses_becomes_a_schedule_error(expression):
    with pytest.raises(ScheduleError, match=NAME):
        check_expression(expression, NAME)


@pytest.mark.parametrize(
    "expression",
    [
        "t",
        "max_f - t",
        "s % 7",
        "10*sin(2*3.14*t/10)",
        "arctan2(t, 2) + sqrt(abs(t))",
        "where(t > 5, 1, 0)",
    ],
)
def test_deforum_expressions_pass(expression):
    check_expression(expression, NAME)
    assert set(NAMES) == {"t", "max_f", "s"}


def test_an_expression_must_give_a_finite_real_value():
    with pytest.raises(ScheduleError, match=r"inf at frame 0"):
        evaluate("0: (log(t))")
    with pytest.raises(ScheduleError, match=NAME):
        evaluate("0: (1.5j*t)")
    # a bad value outside the expression's own frames does not count
    np.testing.assert_allclose(evaluate("0: (1), 1: (log(t))", max_frames=3), [1, 0, np.log(2)])


@pytest.mark.parametrize(
    "expression",
    ["10**10**10", "t * 9**9**9", "where(t > 1, 10.0**10**10, 0)", "1 << 10**10", "2**5000"],
)
def test_an_explosive_number_is_refused_at_once_naming_the_schedule(expression):
    # numexpr's parse would work 10**10**10 out in Python integers, for hours: run it apart
    code = (
        "from stylesweep.animate.schedule import ScheduleError, evaluate_schedule\n"
        "try:\n"
        f"    evaluate_schedule({f'0: ({expression})'!r}, 3, 0, {NAME!r})\n"
        "except ScheduleError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{NAME}, frame 0: {expression!r} makes a number far too large" in result.stdout


@pytest.mark.parametrize("expression", ["'a' * 10**5", "(1,) * 10**5", "t + (1, 2)"])
def test_text_and_sequences_are_refused_before_they_are_built(expression):
    with pytest.raises(ScheduleError, match=rf"{NAME}: .*a schedule's value is a number"):
        check_expression(expression, NAME)


def test_large_numbers_a_float_holds_still_work():
    assert evaluate("0: (10**400 / 10**399)", max_frames=2).tolist() == [10.0, 10.0]
    assert evaluate("0: (2**0.5 + 10**-400 - 2**3)", max_frames=1)[0] == pytest.approx(2**0.5 - 8)
    with pytest.raises(ScheduleError, match=r"inf at frame 2"):
        evaluate("0: (1), 2: (exp(1000*t))", max_frames=4)


def test_is_number():
    assert is_number("1.0") and is_number(" -2 ") and is_number("1e-3")
    assert not is_number("t") and not is_number("1+1") and not is_number("nan")
    assert not is_number("inf") and not is_number("")


def test_value_at_takes_the_last_keyframe_at_or_before_the_frame():
    prompts = {"0": "a cat", 10: "a dog", "25": "a bird"}
    assert value_at(prompts, 0, NAME) == "a cat"
    assert value_at(prompts, 9, NAME) == "a cat"
    assert value_at(prompts, 10, NAME) == "a dog"
    assert value_at(prompts, 24, NAME) == "a dog"
    assert value_at(prompts, 1000, NAME) == "a bird"


def test_value_at_needs_a_keyframe_at_frame_0():
    with pytest.raises(ScheduleError, match=rf"{NAME}: no keyframe at or before frame 3.*frame 0"):
        value_at({5: "a dog", "10": "a bird"}, 3, NAME)
    with pytest.raises(ScheduleError, match=NAME):
        value_at({"zero": "a cat"}, 3, NAME)
    with pytest.raises(ScheduleError, match="given twice"):
        value_at({0: "a cat", "0": "a dog"}, 3, NAME)
