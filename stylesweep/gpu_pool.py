"""Several GPUs on one machine: each GPU job claims a free device before CUDA starts.

Snakemake counts `--resources gpu=N` (at most N GPU jobs at once) but does not say which
device a job should use, so without help every job would land on GPU 0. Here a job claims
device k of the pool by taking a non-blocking `fcntl.flock` on lock file k, then sets
`CUDA_VISIBLE_DEVICES=k`, so that the job's CUDA sees that one device (as `cuda`). The
lock is held by the open file descriptor for the rest of the process's life; the kernel
releases it when the process ends, however it ends (SIGKILL included), so a killed job's
device is free again at once and no stale lock can stay behind. Lock files are never
deleted (deleting a lock file while another process waits on it would let two processes
hold "the same" lock).

Which devices form the pool:
- `CUDA_VISIBLE_DEVICES` set with one entry (or none), or `SLURM_JOB_ID` set: a scheduler
  (or the user) has chosen, and that choice is kept; nothing is claimed.
- `CUDA_VISIBLE_DEVICES` set with several entries, outside SLURM: those devices
  (`CUDA_VISIBLE_DEVICES=2,3 snakemake --resources gpu=2` uses GPUs 2 and 3).
- otherwise devices 0 .. N-1, with N from `$STYLESWEEP_GPUS` or, when that is unset, the
  lines of `nvidia-smi -L` (no torch import: torch would have to start CUDA to count, and
  CUDA must not start before the claim). No `nvidia-smi`: no GPUs, nothing is claimed.
- `device: cpu` claims nothing, nor does an explicit `cuda:N` (the user's own choice).

Where the lock files live: `$STYLESWEEP_GPU_LOCKS` when set, else
`$XDG_RUNTIME_DIR/stylesweep-gpus`, else `/tmp/stylesweep-gpus-<uid>`. They are per user
and per machine, not per workflow folder, because the GPUs are the machine's: two workflows
run by the same user at once share the pool instead of both piling onto GPU 0. A job that
finds every device taken (more GPU jobs than devices, e.g. `gpu=4` on a two-GPU machine,
or another workflow's jobs) waits for one to come free, and says so in its log.

Standard library only, and importable without torch: scripts call it first thing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path

GPUS_VARIABLE = "STYLESWEEP_GPUS"
LOCKS_VARIABLE = "STYLESWEEP_GPU_LOCKS"

# The claim of this process: (device id, open descriptor of its lock file). Kept for the
# process's lifetime, never closed: closing the descriptor would release the lock.
_claimed: tuple[str, int] | None = None


class PoolError(RuntimeError):
    """A setting of the pool that cannot work (a bad STYLESWEEP_GPUS, an unusable folder)."""


def gpu_count(env: MutableMapping[str, str] = os.environ) -> int:
    """The machine's GPUs: `$STYLESWEEP_GPUS`, else the lines of `nvidia-smi -L`, else 0."""
    value = env.get(GPUS_VARIABLE, "").strip()
    if value:
        if not value.isdigit():
            raise PoolError(f"{GPUS_VARIABLE}={value!r}: give the number of GPUs, e.g. 4")
        return int(value)
    try:
        result = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return 0
    if result.returncode != 0:
        return 0
    return sum(1 for line in result.stdout.splitlines() if line.startswith("GPU "))


def lock_folder(env: MutableMapping[str, str] = os.environ) -> Path:
    """Where the lock files live (see the module's docstring)."""
    if env.get(LOCKS_VARIABLE):
        return Path(env[LOCKS_VARIABLE])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "stylesweep-gpus"
    return Path("/tmp") / f"stylesweep-gpus-{os.getuid()}"


def pool_devices(env: MutableMapping[str, str] = os.environ) -> list[str]:
    """The device ids to choose from; empty when the job must keep what it was given."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if "SLURM_JOB_ID" in env:
        return []  # the scheduler's assignment is kept
    if visible is not None:
        entries = [entry.strip() for entry in visible.split(",") if entry.strip()]
        return entries if len(entries) > 1 else []
    return [str(index) for index in range(gpu_count(env))]


def try_claim(device: str, folder: Path) -> int | None:
    """Lock `device`'s file without waiting: its open descriptor, or None when it is held."""
    import fcntl

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", device)
    descriptor = os.open(folder / f"gpu-{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    os.ftruncate(descriptor, 0)  # who holds it, for a person looking at the folder
    os.write(descriptor, f"{os.getpid()}\n".encode())
    return descriptor


def claim(
    devices: list[str],
    folder: Path,
    *,
    timeout: float | None = None,
    poll: float = 0.5,
    say: Callable[[str], None] = print,
) -> str:
    """Claim the first free device of `devices` and hold it for this process's lifetime.

    Waits (polling every `poll` s) while all are held; raises TimeoutError after `timeout`
    seconds when one is given. A second call in the same process returns the same device.
    """
    global _claimed
    if _claimed is not None:
        return _claimed[0]
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise PoolError(f"GPU pool: cannot make the lock folder {folder}: {error}; "
                        f"set {LOCKS_VARIABLE} to a folder of your own") from None  # fmt: skip
    start = time.monotonic()
    waiting = False
    while True:
        for device in devices:
            try:
                descriptor = try_claim(device, folder)
            except OSError as error:
                raise PoolError(f"GPU pool: cannot use the lock file of GPU {device} in "
                                f"{folder}: {error}; set {LOCKS_VARIABLE} to a folder "
                                "of your own") from None  # fmt: skip
            if descriptor is not None:
                _claimed = (device, descriptor)
                if waiting:
                    say(f"GPU pool: GPU {device} came free after {time.monotonic() - start:.0f} s")
                return device
        if timeout is not None and time.monotonic() - start >= timeout:
            raise TimeoutError(f"GPU pool: all of GPUs {','.join(devices)} held for {timeout} s")
        if not waiting:
            say(f"GPU pool: all {len(devices)} GPUs are in use (lock files in {folder}); "
                "waiting for one to come free")  # fmt: skip
            waiting = True
        time.sleep(poll)


def assign_device(
    name: str, env: MutableMapping[str, str] = os.environ, *, say: Callable[[str], None] = print
) -> str | None:
    """Before CUDA starts: for a job on `name` (the config's `device`), claim a free GPU of
    the pool and make it the only one CUDA sees. Returns the claimed device id, or None when
    nothing was claimed (see the module's docstring for when)."""
    if name not in ("auto", "cuda") or sys.platform == "win32":
        return None
    if _claimed is not None:  # called again in the same job
        return _claimed[0]
    devices = pool_devices(env)
    if not devices:
        if "SLURM_JOB_ID" in env or "CUDA_VISIBLE_DEVICES" in env:
            given = env.get("CUDA_VISIBLE_DEVICES", "unset")
            say(f"GPU pool: keeping the GPUs this job was given (CUDA_VISIBLE_DEVICES={given})")
        return None
    device = claim(devices, lock_folder(env), say=say)
    env["CUDA_VISIBLE_DEVICES"] = device
    say(f"GPU pool: this job runs on GPU {device} (one of {','.join(devices)})")
    return device
