"""Deforum-style keyframe schedules: `"0: (1.0), 30: (1.02+0.02*sin(2*3.14*t/20))"`.

A schedule gives a setting (zoom, angle, strength...) a value at every frame. Keyframes are
`frame: (value)` pairs; a value is a number or an expression in `t` (the frame), `max_f`
(the last frame) and `s` (the seed), and, with a soundtrack, its features at the frame:
`amp` (loudness), `onset` (onset strength), both 0 to 1 over the track, and `beat` (1 on a
beat's frame, else 0). Frames between keyframes follow Deforum's
`get_inbetweens`, so settings pasted from Deforum animate the same way here.
"""

from __future__ import annotations

import ast
import math
import operator
import re

import numexpr
import numpy as np
from numexpr import expressions, necompiler

# Expressions are evaluated by numexpr because it is what Deforum evaluates them with: a
# schedule pasted from Deforum's settings gets the same functions, operators and numbers, and
# nothing here calls Python's eval (numexpr refuses attribute access, dunders, subscripts
# and lambdas before it compiles anything). The keyframe parser is ours: Deforum's regex
# silently skips a keyframe it cannot read (a missing colon or parenthesis drops it, and the
# setting quietly keeps another value), where we want the position and the fix.

NAMES = ("t", "max_f", "s")  # the variables every expression may use
AUDIO_NAMES = ("amp", "onset", "beat")  # and these with a soundtrack (animate/audio.py)
FUNCTIONS = tuple(sorted(expressions.functions))  # sin, cos, where... numexpr's own
# numexpr's reductions: Deforum evaluates one frame at a time, where sum(t) is just t; we
# evaluate all frames at once, where it would sum over the frames, so they are refused.
REDUCTIONS = ("sum", "prod", "min", "max")
# Names only; truediv does not change which names an expression uses.
_CONTEXT = necompiler.getContext({"truediv": False})
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_SYNTAX = (
    "keyframes are written `frame: (value)` and separated by commas, e.g. `0: (1.0), 30: (1.02)`"
)
# numexpr reads an expression with Python's eval, which works out the constant parts with
# Python's unbounded integers first: `10**10**10` would compute for hours before numexpr
# sees it. Constant parts are worked out here first, refusing any integer wider than this
# (float64 ends near 2**1024, numexpr's integers at 2**63), so every check is quick.
MAX_BITS = 4096
_CONSTANT_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY_OPS = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Invert: operator.invert}


class ScheduleError(ValueError):
    """A schedule that cannot be read or evaluated; the message names the schedule."""


def _pointer(text: str, position: int, width: int = 30) -> str:
    """The text around `position` with a caret under it, on two indented lines."""
    start = max(0, position - width)
    end = min(len(text), position + width)
    snippet = re.sub(r"\s", " ", text[start:end])  # newlines and tabs would break the caret
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(text) else ""
    return f"    {prefix}{snippet}{suffix}\n    {' ' * (len(prefix) + position - start)}^"


def _parse_error(name: str, text: str, position: int, problem: str, fix: str) -> ScheduleError:
    return ScheduleError(
        f"{name}: {problem} at position {position}:\n{_pointer(text, position)}\n{fix}"
    )


def is_number(text: str) -> bool:
    """Whether a keyframe's value is a plain number (it sets one frame) or an expression."""
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def parse_keyframes(text: str, name: str) -> dict[int, str]:
    """`"0: (1.0), 30: (1.02)"` -> {0: "1.0", 30: "1.02"}.

    Values may nest parentheses (`0: (10*sin(2*3.14*t/10))`), whitespace is free and a
    trailing comma is allowed. A bare number (`"1.0"`) means `0: (1.0)`. Anything else that
    does not read as keyframes raises ScheduleError with the position, rather than being
    skipped as Deforum's regex does.
    """
    if not isinstance(text, str):
        raise ScheduleError(f"{name}: a schedule is a string like `0: (1.0)`, not {text!r}")
    if not text.strip():
        raise ScheduleError(f"{name}: the schedule is empty; {_SYNTAX}")
    if is_number(text):
        return {0: text.strip()}

    keyframes: dict[int, str] = {}
    position, end = 0, len(text)

    def skip_space() -> None:
        nonlocal position
        while position < end and text[position].isspace():
            position += 1

    skip_space()
    while position < end:
        digits = re.compile(r"\d+").match(text, position)
        if digits is None:
            raise _parse_error(name, text, position, "expected a frame number", f"Fix: {_SYNTAX}.")
        frame_at, frame = position, int(digits.group())
        position = digits.end()
        skip_space()
        if position >= end or text[position] != ":":
            raise _parse_error(
                name,
                text,
                position,
                f"missing colon after frame {frame}",
                f"Fix: write `{frame}: (value)`.",
            )
        position += 1
        skip_space()
        if position >= end or text[position] != "(":
            raise _parse_error(
                name,
                text,
                position,
                f"the value of frame {frame} does not start with '('",
                f"Fix: put the value in parentheses, `{frame}: (value)`.",
            )
        opened, depth = position, 0
        while position < end:
            if text[position] == "(":
                depth += 1
            elif text[position] == ")":
                depth -= 1
                if depth == 0:
                    break
            position += 1
        if depth:
            raise _parse_error(
                name,
                text,
                opened,
                f"unbalanced parenthesis: the '(' of frame {frame} is never closed",
                "Fix: close every '(' with a ')'.",
            )
        value = text[opened + 1 : position].strip()
        if not value:
            raise _parse_error(
                name,
                text,
                opened,
                f"empty value for frame {frame}",
                f"Fix: give it a number or an expression, `{frame}: (1.0)`.",
            )
        if frame in keyframes:
            raise _parse_error(
                name,
                text,
                frame_at,
                f"frame {frame} is given twice",
                "Fix: keep one keyframe per frame.",
            )
        keyframes[frame] = value
        position += 1  # the closing parenthesis
        skip_space()
        if position < end:
            if text[position] == ")":
                raise _parse_error(
                    name,
                    text,
                    position,
                    "unbalanced parenthesis: ')' without '('",
                    "Fix: remove it, or open it inside the value.",
                )
            if text[position] != ",":
                raise _parse_error(
                    name, text, position, "expected ',' between keyframes", f"Fix: {_SYNTAX}."
                )
            position += 1
            skip_space()
    return keyframes


def _result_bits(op: ast.operator, left: object, right: object) -> float:
    """An upper bound of the width in bits of `left op right` on integers, found without
    computing it (0 where it cannot grow past its operands' widths)."""
    if not isinstance(left, int) or not isinstance(right, int):
        return 0  # float and complex arithmetic overflows or gives inf, quickly
    if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1:
        return right * math.log2(abs(left))
    if isinstance(op, ast.LShift) and right > 0:
        return left.bit_length() + right
    return 0


def _constant_value(node: ast.AST, expression: str, name: str) -> object:
    """The value of `node` where it is made of numbers only, else None; refuses a number
    too large for a schedule, and sequences, before numexpr's eval would build them."""
    too_large = (
        f"{name}: {expression!r} makes a number far too large for a schedule (a value must "
        "fit a float64, below about 1.8e308); write a smaller number or exponent"
    )
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, int | float | complex | str | bytes) else None
    if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict | ast.JoinedStr):
        raise ScheduleError(
            f"{name}: {expression!r} holds a {type(node).__name__.lower()}; a schedule's "
            "value is a number"
        )
    # every part is checked, also inside calls and comparisons, each once
    values = [_constant_value(child, expression, name) for child in ast.iter_child_nodes(node)]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS and values[-1] is not None:
        try:
            return _UNARY_OPS[type(node.op)](values[-1])
        except TypeError:
            return None
    if isinstance(node, ast.BinOp) and type(node.op) in _CONSTANT_OPS:
        left, right = values[0], values[-1]  # the operator node sits between them
        if left is None or right is None:
            return None
        if isinstance(left, str | bytes) or isinstance(right, str | bytes):  # 'a' * 10**10
            raise ScheduleError(
                f"{name}: {expression!r} holds text; a schedule's value is a number"
            )
        if _result_bits(node.op, left, right) > MAX_BITS:
            raise ScheduleError(too_large)
        try:
            result = _CONSTANT_OPS[type(node.op)](left, right)
        except OverflowError:
            raise ScheduleError(too_large) from None
        except (ArithmeticError, TypeError, ValueError):
            return None  # numexpr reports it
        if isinstance(result, int) and result.bit_length() > MAX_BITS:
            raise ScheduleError(too_large)
        return result
    return None


def check_expression(expression: str, name: str, audio: bool = False) -> None:
    """Refuse an expression numexpr cannot read or that uses a variable other than NAMES
    (and AUDIO_NAMES, when the animation has a soundtrack: `audio`).

    The names come from numexpr's own parser, which also refuses attribute access, dunders,
    subscripts and lambdas: what passes here is what numexpr.evaluate will accept.
    """
    allowed = (
        f"Allowed: the variables {', '.join(NAMES)} (with a soundtrack also "
        f"{', '.join(AUDIO_NAMES)}) and numexpr's functions such as sin, cos, tan, arctan2, "
        "sqrt, exp, log, abs and where."
    )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass  # numexpr reports it below, in its own words
    else:
        try:
            _constant_value(tree.body, expression, name)
        except RecursionError:
            raise ScheduleError(
                f"{name}: {expression[:60]!r}... is nested too deeply to check; shorten it"
            ) from None
    try:
        variables, _ = necompiler.getExprNames(expression, _CONTEXT)
        tree = necompiler.expressionToAST(necompiler.stringToExpression(expression, {}, _CONTEXT))
    except Exception as error:  # numexpr raises ValueError, TypeError, SyntaxError, KeyError...
        unknown = [
            word
            for word in _IDENTIFIER.findall(expression)
            if word not in NAMES + AUDIO_NAMES and word not in FUNCTIONS
        ]
        culprit = f" ({', '.join(repr(word) for word in unknown)} not allowed)" if unknown else ""
        reason = str(error).rstrip(".")
        if "forbidden" in reason:
            reason += " (numexpr refuses attribute access, __dunder__ names, [ ] ; and :)"
        raise ScheduleError(
            f"{name}: numexpr cannot evaluate {expression!r}{culprit}: {reason}. {allowed}"
        ) from None
    heard = [variable for variable in variables if variable in AUDIO_NAMES]
    if heard and not audio:
        raise ScheduleError(
            f"{name}: {expression!r} uses {', '.join(repr(v) for v in heard)}, a feature of "
            "the soundtrack, and the animation has none; set its soundtrack: (a wav, mp3 or "
            "flac file, or a video with sound), or take the name out"
        )
    others = [variable for variable in variables if variable not in NAMES + AUDIO_NAMES]
    if others:
        raise ScheduleError(
            f"{name}: {expression!r} uses {', '.join(repr(v) for v in others)}, which is not a "
            f"variable a schedule knows. {allowed}"
        )
    reductions = sorted(
        {node.value for node in tree.postorderWalk() if node.astType == "op"} & set(REDUCTIONS)
    )
    if reductions:
        raise ScheduleError(
            f"{name}: {expression!r} uses {', '.join(reductions)}, which would reduce over all "
            f"frames here (Deforum evaluates one frame at a time, where it is a no-op). {allowed}"
        )


def _evaluate(
    expression: str,
    frames: np.ndarray,
    max_frames: int,
    seed: int,
    name: str,
    audio: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """One expression at every frame of `frames`, as float64 (a constant is broadcast)."""
    check_expression(expression, name, audio is not None)
    # Deforum's numexpr.evaluate sees max_f = max_frames - 1, the last frame's number.
    local_dict = {"t": frames, "max_f": max_frames - 1, "s": seed, **(audio or {})}
    try:
        result = np.asarray(numexpr.evaluate(expression, local_dict=local_dict, global_dict={}))
        if np.iscomplexobj(result):
            raise TypeError("the result is a complex number")
        return np.broadcast_to(result.astype(np.float64), frames.shape)
    except Exception as error:
        raise ScheduleError(f"{name}: numexpr cannot evaluate {expression!r}: {error}") from None


def evaluate_schedule(
    text: str | float | int,
    max_frames: int,
    seed: int,
    name: str,
    audio: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The schedule's value at each of `max_frames` frames (float64), as Deforum computes it.

    `audio` holds the soundtrack's features (AUDIO_NAMES), one value per frame; without it,
    an expression naming one is refused.

    Deforum's get_inbetweens walks the frames with a current value: a keyframe replaces it;
    an expression is evaluated at every frame until the next keyframe, a plain number sets
    only its own frame. Unset frames are then interpolated linearly, and hold the first or
    last set value outside them (np.interp's ends). Keyframes at or after max_frames are
    ignored, as in Deforum. Each expression is evaluated once, over an array of frames.
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ScheduleError(f"{name}: max_frames must be a whole number >= 1, not {max_frames!r}")
    if isinstance(text, bool) or (isinstance(text, float) and not math.isfinite(text)):
        raise ScheduleError(f"{name}: a schedule is a number or `0: (1.0)`, not {text!r}")
    if isinstance(text, int | float):
        text = repr(text)
    keyframes = parse_keyframes(text, name)
    kept = sorted(frame for frame in keyframes if frame < max_frames)
    if not kept:
        raise ScheduleError(
            f"{name}: every keyframe ({', '.join(map(str, sorted(keyframes)))}) is at or after "
            f"max_frames ({max_frames}); a schedule needs one before it, e.g. `0: (...)`"
        )

    frames = np.arange(max_frames, dtype=np.int64)
    values = np.full(max_frames, np.nan)
    evaluated: dict[str, np.ndarray] = {}  # a repeated expression is evaluated once
    for start, stop in zip(kept, [*kept[1:], max_frames], strict=True):
        value = keyframes[start]
        if is_number(value):
            values[start] = float(value)
            continue
        # An expression holds until the next keyframe: a number there stops it, another
        # expression takes over.
        if value not in evaluated:
            evaluated[value] = _evaluate(
                value, frames, max_frames, seed, f"{name}, frame {start}", audio
            )
        span = evaluated[value][start:stop]
        bad = np.flatnonzero(~np.isfinite(span))
        if bad.size:
            raise ScheduleError(
                f"{name}: {value!r} gives {span[bad[0]]} at frame {start + bad[0]}; a schedule "
                "needs a finite value at every frame"
            )
        values[start:stop] = span

    known = ~np.isnan(values)
    return np.interp(frames, frames[known], values[known])


def _frame_number(key: object, name: str) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return key
    if isinstance(key, str) and re.fullmatch(r"\s*\d+\s*", key):
        return int(key)
    raise ScheduleError(f"{name}: keyframe {key!r} is not a frame number (0, 1, 2...)")


def value_at(schedule: dict[int, str], frame: int, name: str) -> str:
    """The value of the last keyframe at or before `frame`, for step-wise schedules.

    Prompts, models and seeds change at keyframes and hold until the next one. YAML gives
    mapping keys as ints or strings of digits; both are read as frame numbers.
    """
    keyframes: dict[int, str] = {}
    for key, value in schedule.items():
        number = _frame_number(key, name)
        if number in keyframes:
            raise ScheduleError(f"{name}: frame {number} is given twice (as {key!r} and another)")
        keyframes[number] = value
    earlier = [number for number in keyframes if number <= frame]
    if not earlier:
        given = ", ".join(map(str, sorted(keyframes))) or "none"
        raise ScheduleError(
            f"{name}: no keyframe at or before frame {frame} (keyframes: {given}); a schedule "
            "must start at frame 0"
        )
    return keyframes[max(earlier)]
