"""Fingerprints of what a stage writes that hold across machines, and their comparison.

A stage's output is summarised file by file into a small JSON-able record: pictures (and the
frames of videos) as 8x8 block means of their pixels, tensors as their shape, dtype and a
fixed sample of their values, JSON as its values with volatile keys dropped, a WAV as the
loudness of its stretches, anything else by its bytes. Two summaries are compared under
tolerances, not hashed: another CPU's float kernels move the last bits of every number, and
a hash of rounded values still flips where a value sits on a rounding edge (issue #20: 5
stages "changed" on an AMD machine without AVX-512).

The tolerances come from measured spread (`python bench/fingerprint_spread.py`, which runs the
stages with other kernels and threads as a stand-in for another machine) with a wide margin,
and stay far below what a real change of a stage moves (tests/test_stage_versions.py shows both).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np

# Keys whose values name a machine, a moment or exact weight bytes, not what a stage computes.
VOLATILE = {"versions", "weights_sha256", "base_model_hash", "model_hash", "file", "base_model",
            "seconds", "diffused_per_second", "model_hashes", "device", "sha256"}  # fmt: skip
# A long hex run in a name or a string is a hash of weights or of a recipe holding one.
HASHES = re.compile(r"[0-9a-f]{12,}")

BLOCKS = 8  # pictures are summarised as BLOCKS x BLOCKS means per channel
SAMPLES = 512  # values kept of a file of tensors, evenly spaced through them
# Allowed differences. Pixels: 8-bit levels of a block mean. Tensors: a share of the file's
# RMS plus a share of the value (fp16 files: one fp16 step is 1/1024 of the value). JSON
# floats: absolute plus relative.
PIXEL_LEVELS = 2.0
TENSOR_SCALE = 1e-3
TENSOR_REL = 2e-3
FLOAT_ABS = 2e-3
FLOAT_REL = 2e-3

# The stand-in for another machine: a CPU without AVX-512 (as the AMD EPYC where hashed
# fingerprints failed), its BLAS and oneDNN limited alike, on one thread.
NO_AVX512 = {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"}  # fmt: skip
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ANOTHER_MACHINE = {**NO_AVX512, **ONE_THREAD}

PICTURES = {".png", ".webp", ".jpg", ".jpeg"}
VIDEOS = {".mp4", ".gif", ".webm"}


def file_key(path: Path, root: Path) -> str:
    """A file's name under root with hashes masked, so that a picture named by its recipe's
    hash is found again on a machine whose weights differ in the last bits."""
    return HASHES.sub("#", path.relative_to(root).as_posix())


def picture_blocks(pixels: np.ndarray) -> list:
    """Mean of each channel over BLOCKS x BLOCKS tiles (the picture cropped to a multiple)."""
    height, width = (size - size % BLOCKS for size in pixels.shape[:2])
    tiles = pixels[:height, :width].astype(np.float64)
    tiles = tiles.reshape(BLOCKS, height // BLOCKS, BLOCKS, width // BLOCKS, -1).mean((1, 3))
    return np.round(tiles, 2).tolist()


def video_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def round_to(values: np.ndarray, digits: int = 6) -> list[float]:
    """Values to `digits` significant digits (small records; far finer than the tolerances)."""
    return [float(f"{v:.{digits}g}") for v in values]


def tensors_summary(tensors: dict[str, np.ndarray]) -> dict:
    """A file of tensors: its layout exactly (names, shapes, dtypes), each tensor's RMS and
    mean, and SAMPLES values spread through all of them, with the file's RMS as the scale."""
    names = sorted(tensors)
    layout = [f"{k}:{tuple(tensors[k].shape)}:{tensors[k].dtype}" for k in names]
    flat = [tensors[k].astype(np.float64).ravel() for k in names]
    values = np.concatenate(flat) if flat else np.zeros(0)
    picks = np.linspace(0, values.size - 1, min(SAMPLES, values.size)).round().astype(int)
    return {
        "layout": hashlib.sha256("\n".join(layout).encode()).hexdigest(),
        "tensors": len(names),
        "scale": float(np.sqrt(np.mean(values**2))) if values.size else 0.0,
        "rms": round_to([np.sqrt(np.mean(v**2)) if v.size else 0.0 for v in flat]),
        "mean": round_to([v.mean() if v.size else 0.0 for v in flat]),
        "sample": round_to(values[picks]),
    }


def clean_json(value):
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, str):
        return HASHES.sub("#", value)
    return value


def sound_summary(path: Path) -> dict:
    """A 16-bit WAV's rate and length, and the RMS of BLOCKS x BLOCKS stretches of it."""
    import wave

    with wave.open(str(path)) as sound:
        rate, channels = sound.getframerate(), sound.getnchannels()
        samples = np.frombuffer(sound.readframes(sound.getnframes()), "<i2") / 32768
    stretches = np.array_split(samples, BLOCKS * BLOCKS)
    rms = [float(np.sqrt(np.mean(part**2))) if part.size else 0.0 for part in stretches]
    return {"rate": rate, "channels": channels, "samples": len(samples), "rms": round_to(rms)}


def summarise_file(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix in PICTURES:
        from PIL import Image

        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        return {"kind": "picture", "size": list(pixels.shape[:2]), "blocks": picture_blocks(pixels)}
    if suffix in VIDEOS:
        frames = video_frames(path)
        return {"kind": "video", "frames": len(frames),
                "blocks": [picture_blocks(frame) for frame in frames]}  # fmt: skip
    if suffix == ".safetensors":
        from safetensors.numpy import load_file

        return {"kind": "tensors", **tensors_summary(load_file(str(path)))}
    if suffix == ".json":
        return {"kind": "json", "value": clean_json(json.loads(path.read_text()))}
    if suffix == ".wav":
        return {"kind": "sound", **sound_summary(path)}
    return {"kind": "bytes", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def summarise(files: list[Path], root: Path) -> dict[str, dict]:
    """A summary of each file, by its name under root."""
    summary: dict[str, dict] = {}
    for path in sorted(files, key=lambda p: file_key(p, root)):
        key = file_key(path, root)
        while key in summary:  # two names that differ only in their hashes
            key += "+"
        summary[key] = summarise_file(path)
    return summary


# --- Comparison: each difference as (how far, as a multiple of its tolerance; where) -------
def _float_excess(current: float, reference: float, absolute: float, relative: float) -> float:
    if math.isnan(current) or math.isnan(reference):
        return 0.0 if math.isnan(current) and math.isnan(reference) else math.inf
    return abs(current - reference) / (absolute + relative * abs(reference))


def _json_excess(current, reference, where: str) -> list[tuple[float, str]]:
    if isinstance(reference, bool) or isinstance(current, bool):
        return (
            [] if current == reference else [(math.inf, f"{where}: {current!r} != {reference!r}")]
        )
    if isinstance(reference, int | float) and isinstance(current, int | float):
        if isinstance(reference, int) and isinstance(current, int):
            return (
                [] if current == reference else [(math.inf, f"{where}: {current} != {reference}")]
            )
        return [(_float_excess(current, reference, FLOAT_ABS, FLOAT_REL),
                 f"{where}: {current!r}, recorded {reference!r}")]  # fmt: skip
    if isinstance(reference, dict) and isinstance(current, dict):
        if current.keys() != reference.keys():
            return [(math.inf, f"{where}: keys {sorted(current)} != {sorted(reference)}")]
        return [item for k in reference for item in _json_excess(current[k], reference[k],
                                                                 f"{where}.{k}")]  # fmt: skip
    if isinstance(reference, list) and isinstance(current, list):
        if len(current) != len(reference):
            return [(math.inf, f"{where}: {len(current)} items, recorded {len(reference)}")]
        return [item for i, (c, r) in enumerate(zip(current, reference, strict=True))
                for item in _json_excess(c, r, f"{where}[{i}]")]  # fmt: skip
    return [] if current == reference else [(math.inf, f"{where}: {current!r} != {reference!r}")]


def _blocks_excess(current: list, reference: list, where: str) -> list[tuple[float, str]]:
    a, b = np.asarray(current), np.asarray(reference)
    if a.shape != b.shape:
        return [(math.inf, f"{where}: {a.shape} blocks, recorded {b.shape}")]
    worst = float(np.abs(a - b).max()) if a.size else 0.0
    return [(worst / PIXEL_LEVELS, f"{where}: a block mean moved {worst:.2f} levels")]


def _tensors_excess(current: dict, reference: dict, where: str) -> list[tuple[float, str]]:
    if (current["layout"], current["tensors"]) != (reference["layout"], reference["tensors"]):
        return [(math.inf, f"{where}: the tensors' names, shapes or dtypes differ")]
    found = []
    for part in ("rms", "mean", "sample"):
        values, recorded = np.asarray(current[part]), np.asarray(reference[part])
        allowed = TENSOR_SCALE * reference["scale"] + TENSOR_REL * np.abs(recorded) + 1e-12
        excess = np.abs(values - recorded) / allowed
        if excess.size:
            i = int(excess.argmax())
            found.append((float(excess[i]), f"{where}: {part} {i} is {values[i]:.6g}, "
                                            f"recorded {recorded[i]:.6g}"))  # fmt: skip
    return found


def differences(current: dict[str, dict], reference: dict[str, dict]) -> list[tuple[float, str]]:
    """Every compared quantity of two summaries as (distance in tolerances, where); a
    distance above 1 is a change."""
    if current.keys() != reference.keys():
        return [(math.inf, f"files {sorted(set(current) ^ set(reference))} differ")]
    found = []
    for name, ref in reference.items():
        cur = current[name]
        if cur["kind"] != ref["kind"]:
            found.append((math.inf, f"{name}: a {cur['kind']}, recorded a {ref['kind']}"))
        elif ref["kind"] == "picture":
            if cur["size"] != ref["size"]:
                found.append((math.inf, f"{name}: size {cur['size']}, recorded {ref['size']}"))
            else:
                found += _blocks_excess(cur["blocks"], ref["blocks"], name)
        elif ref["kind"] == "video":
            if cur["frames"] != ref["frames"]:
                found.append(
                    (math.inf, f"{name}: {cur['frames']} frames, recorded {ref['frames']}")
                )
            else:
                found += _blocks_excess(cur["blocks"], ref["blocks"], name)
        elif ref["kind"] == "tensors":
            found += _tensors_excess(cur, ref, name)
        elif ref["kind"] == "json":
            found += _json_excess(cur["value"], ref["value"], name)
        elif ref["kind"] == "sound":
            found += _json_excess(cur, ref, name)
        elif cur != ref:
            found.append((math.inf, f"{name}: its bytes differ"))
    return found


def worst(current: dict[str, dict], reference: dict[str, dict]) -> tuple[float, str]:
    """The largest difference of two summaries, in tolerances, and where it is."""
    return max(differences(current, reference), default=(0.0, "nothing compared"))
