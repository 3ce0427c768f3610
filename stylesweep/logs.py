"""Send a job's output to its Snakemake log file, and say where the job's time went."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TIMING = "timing:"  # the prefix of the line bench/bench_imports.py reads from job logs
_spent: dict[str, float] = {}


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None where that is unknown."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def mark_imports_done() -> None:
    """Called by a script once its imports are done: the rest of its time is work."""
    _spent["imports_done"] = time.perf_counter()


@contextlib.contextmanager
def spent(part: str) -> Iterator[None]:
    """Count the block's time under `part` (e.g. "model load") in the job's timing line."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _spent[part] = _spent.get(part, 0.0) + time.perf_counter() - start


def timing_line(started: float, start_up: float | None) -> str:
    now = time.perf_counter()
    imported = _spent.get("imports_done", started)
    load = _spent.get("model load", 0.0)
    parts = {
        "start-up": start_up,
        "imports": imported - started,
        "model load": load,
        "work": now - imported - load,
        "total": (start_up or 0.0) + now - started,
    }
    shown = ", ".join(f"{name} {value:.2f} s" for name, value in parts.items() if value is not None)
    return f"{TIMING} {shown}"


@contextlib.contextmanager
def log_to(path: str | Path | None) -> Iterator[None]:
    """Redirect stdout, stderr (tqdm bars included) and `logging` into `path` for the block.

    A failure is written to the log and re-raised, so Snakemake reports the job as failed
    and the log says why. A job that succeeds ends its log with a timing line: the
    process's start-up (Python and Snakemake) before the block, the imports, model loading
    and the work.
    """
    if path is None:
        yield
        return
    start_up, started = process_age(), time.perf_counter()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1, encoding="utf-8") as handle:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = handle
        root = logging.getLogger()
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
            handle.write(timing_line(started, start_up) + "\n")
        except BaseException as error:
            handle.write(f"\nERROR: {type(error).__name__}: {error}\n")
            raise
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = old_out, old_err
