"""Several GPUs on one machine: each GPU job claims its own device from the lock-file pool
(stylesweep/gpu_pool.py). No GPU is needed: the pool's size comes from STYLESWEEP_GPUS, and
a job's claim shows in the CUDA_VISIBLE_DEVICES it sets before CUDA starts."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stylesweep import gpu_pool

from .conftest import REPO

# A GPU job as far as the pool is concerned: resolve the device as the scripts do, say
# what CUDA will see, then hold the claim until stdin closes.
JOB = """
import os, sys
from stylesweep.device import resolve_device
device = resolve_device(sys.argv[1])
print("claimed", device, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), flush=True)
sys.stdin.read()
"""


def job_env(locks: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k != "CUDA_VISIBLE_DEVICES" and not k.startswith("SLURM_")}  # fmt: skip
    return env | {gpu_pool.LOCKS_VARIABLE: str(locks)} | variables


class Job:
    """A claimer process, its output read line by line in a thread."""

    def __init__(self, device: str, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-c", JOB, device], env=env, cwd=REPO, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.pid = self.process.pid
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def read_line(self, timeout: float = 60) -> str | None:
        """The next line, or None when the job prints none within `timeout` seconds."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None


def visible(job: Job, timeout: float = 60) -> str:
    """What CUDA_VISIBLE_DEVICES the job ends up with (skipping the pool's log lines)."""
    while (line := job.read_line(timeout)) is not None:
        if line.startswith("claimed "):
            return line.split()[-1]
        assert line.startswith("GPU pool:"), line
    raise AssertionError("the job claimed nothing in time")


def finish(*jobs: Job) -> None:
    for job in jobs:
        job.process.stdin.close()
        job.process.wait(timeout=30)


def test_jobs_at_once_get_different_devices_and_a_killed_jobs_device_is_free_again(tmp_path):
    env = job_env(tmp_path, STYLESWEEP_GPUS="4")
    jobs = [Job("cuda", env) for _ in range(4)]
    try:
        devices = [visible(job) for job in jobs]
        assert sorted(devices) == ["0", "1", "2", "3"]
        # A fifth job finds all four held, and waits...
        fifth = Job("cuda", env)
        jobs.append(fifth)
        assert "all 4 GPUs are in use" in fifth.read_line()
        assert fifth.read_line(timeout=1.5) is None
        # ...until one job is killed outright: the kernel frees its lock, no clean-up runs.
        victim = jobs[1]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=30)
        assert visible(fifth) == devices[1]
        # The lock file says who holds the device, for a person who looks.
        assert (tmp_path / f"gpu-{devices[1]}.lock").read_text() == f"{fifth.pid}\n"
    finally:
        finish(*jobs)
    # Every job has ended: every device is free again.
    jobs = [Job("cuda", env) for _ in range(4)]
    try:
        assert sorted(visible(job) for job in jobs) == ["0", "1", "2", "3"]
    finally:
        finish(*jobs)


@pytest.mark.parametrize(
    ("device", "variables", "expected"),
    [
        # device: cpu claims nothing and hides nothing
        ("cpu", {"STYLESWEEP_GPUS": "4"}, "unset"),
        # an explicit cuda:N is the user's own choice
        ("cuda:1", {"STYLESWEEP_GPUS": "4"}, "unset"),
        # under SLURM the scheduler's assignment is kept, and a SLURM job without a GPU
        # does not take one of the node's
        ("cuda", {"STYLESWEEP_GPUS": "4", "SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "2"}, "2"),
        ("cuda", {"STYLESWEEP_GPUS": "4", "SLURM_JOB_ID": "7"}, "unset"),
        # a single device chosen by another scheduler (or by hand) is kept too
        ("cuda", {"STYLESWEEP_GPUS": "4", "CUDA_VISIBLE_DEVICES": "3"}, "3"),
        # no GPU on the machine: nothing to claim
        ("cuda", {"STYLESWEEP_GPUS": "0"}, "unset"),
    ],
)
def test_what_claims_nothing(tmp_path, device, variables, expected):
    job = Job(device, job_env(tmp_path / "locks", **variables))
    try:
        assert visible(job) == expected
    finally:
        finish(job)
    assert not (tmp_path / "locks").exists()


def test_several_devices_given_by_hand_are_the_pool(tmp_path):
    """CUDA_VISIBLE_DEVICES=2,5 snakemake --resources gpu=2: one job on 2, one on 5."""
    env = job_env(tmp_path, CUDA_VISIBLE_DEVICES="2,5")
    jobs = [Job("cuda", env) for _ in range(2)]
    try:
        assert sorted(visible(job) for job in jobs) == ["2", "5"]
    finally:
        finish(*jobs)


def test_a_second_claim_in_a_job_keeps_its_device(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_pool, "_claimed", None)
    env = {gpu_pool.GPUS_VARIABLE: "3", gpu_pool.LOCKS_VARIABLE: str(tmp_path)}
    try:
        first = gpu_pool.assign_device("auto", env, say=lambda line: None)
        assert gpu_pool.assign_device("cuda", env, say=lambda line: None) == first == "0"
        assert env["CUDA_VISIBLE_DEVICES"] == "0"
        # held: another descriptor (as another process would open) cannot lock it
        assert gpu_pool.try_claim("0", tmp_path) is None
    finally:
        os.close(gpu_pool._claimed[1])


def test_the_number_of_gpus(tmp_path, monkeypatch):
    assert gpu_pool.gpu_count({"STYLESWEEP_GPUS": "2"}) == 2
    with pytest.raises(gpu_pool.PoolError, match="STYLESWEEP_GPUS='two'"):
        gpu_pool.gpu_count({"STYLESWEEP_GPUS": "two"})
    # no nvidia-smi: no GPUs
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_pool.gpu_count({}) == 0
    # otherwise one line of `nvidia-smi -L` per GPU (and torch is never asked)
    smi = tmp_path / "nvidia-smi"
    listing = "GPU 0: H100 (UUID: GPU-a)\\n  MIG 1g.10gb Device 0: (UUID: MIG-b)\\nGPU 1: H100\\n"
    smi.write_text(f"#!/bin/sh\nprintf '{listing}'\n")
    smi.chmod(0o755)
    assert gpu_pool.gpu_count({}) == 2


def test_the_lock_folder():
    assert gpu_pool.lock_folder({"STYLESWEEP_GPU_LOCKS": "/x"}) == Path("/x")
    assert gpu_pool.lock_folder({"XDG_RUNTIME_DIR": "/run/user/5"}) == Path(
        "/run/user/5/stylesweep-gpus"
    )
    assert gpu_pool.lock_folder({}) == Path(f"/tmp/stylesweep-gpus-{os.getuid()}")


def test_scripts_claim_their_device_before_anything_can_start_cuda():
    """The claim must come before the model code is imported (bitsandbytes, for one, asks
    CUDA about its devices on import, and CUDA reads CUDA_VISIBLE_DEVICES only once)."""
    scripts = [path for path in sorted((REPO / "scripts").glob("*.py"))
               if "resolve_device" in path.read_text()]  # fmt: skip
    assert len(scripts) >= 4
    for path in scripts:
        text = path.read_text()
        claim = text.index("resolve_device(snakemake.config")
        imports = [m.start() for m in re.finditer(r"^\s*from (stylesweep\S*) import", text, re.M)
                   if m.group(1) not in ("stylesweep.logs", "stylesweep.device")]  # fmt: skip
        assert imports, path.name
        assert all(claim < start for start in imports), path.name
