"""A rehearsal of the real job: the workflow (Snakemake, the real rules) on builtin:sd15-random,
Stable Diffusion 1.5's architecture with random weights, at a small resolution on the CPU or
at 512 px on a GPU, with one DreamBooth, one LoRA and one textual-inversion run of two
checkpoints each, two seeds, one CFG scale, exports and a 4-frame animation.

It prints one row per job (wall time, peak resident memory of the job's processes, peak GPU
memory on CUDA, bytes of its outputs) and, per stage, the plan's bytes beside the measured
ones (python -m stylesweep.plan, for the same config), then the training runs' GPU memory
by the plan.

    python bench/rehearsal.py                          # CPU, 128 px (about 25 GB of disk)
    python bench/rehearsal.py --device cuda --size 512 # a GPU, SD 1.5's real size
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stylesweep.config import load_schema, train_keys, workflow_config  # noqa: E402
from stylesweep.plan import make_plan, size, written_bytes  # noqa: E402
from stylesweep.plan.disk import summarise  # noqa: E402
from stylesweep.plan.memory import GIB  # noqa: E402
from stylesweep.subjects import SD15_SUBJECTS  # noqa: E402

# The plan's stages, and the folders under results/ where each one writes.
STAGE_FOLDERS = {
    "base": ["base"],
    "dataset": ["demo", "dataset"],
    "train": ["train"],
    "prompts": ["prompts"],
    "sample": ["samples", "thumbnails", "scores"],
    "report": ["report", "report_draft"],
    "export": ["export"],
    "animate": ["animate"],
}


def rehearsal_config(device: str, resolution: int, base_model: str) -> dict:
    return {
        "base_model": base_model,
        "device": device,
        "dataset": {"stills": "builtin:demo", "demo_count": 4, "resolution": resolution},
        "train": {
            "key": "vsynth",
            "instance_prompt": "an abstract pattern, {key}",
            "max_steps": 4,
            "checkpoint_every": 2,
            "text_encoder_fraction": 0.5,
            "learning_rate": 2.0e-6,
            "keep_resume": "last",
            "save_precision": "fp16",
            "sweep": {},
            "extra_runs": [
                {"method": "lora", "learning_rate": 1.0e-4},
                {"method": "textual_inversion", "learning_rate": 5.0e-3},
            ],
        },
        "prompts": {
            "base_prompt": "a portrait of a woman, oil painting",
            # no interrogation: the rehearsal's machine holds no CLIP or BLIP weights
            "words_baseline": 0,
            "placements": ["end"],
            "weights": [1.0],
            # one subject of the SD 1.5 suite, so that every kind of picture is rehearsed
            "subjects": {"person": SD15_SUBJECTS["person"]},
        },
        "sample": {
            "seeds": [1, 2],
            "cfg_scales": [7],
            "steps": 4,
            "size": resolution,
            "batch_size": 2,
        },  # fmt: skip
        "export": {"checkpoints": ["last"], "precision": "fp16"},
        "animate": {
            "animations": {
                "rehearsal": {
                    "models": {"0": "default/step-4"},
                    "prompts": {"0": "{key}, an abstract pattern"},
                    "max_frames": 4,
                    "size": resolution,
                    "steps": 4,
                    "init_image": None,
                }
            }
        },
    }


def gpu_memory_by_pid() -> dict[int, int]:
    """Bytes of GPU memory each process holds (nvidia-smi), or nothing without a GPU."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5,
        ).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = {}
    for line in out.splitlines():
        pid, _, mib = line.partition(",")
        if pid.strip().isdigit() and mib.strip().isdigit():
            found[int(pid)] = int(mib) * 1024**2
    return found


class Watcher:
    """Polls the Snakemake process tree: the resident and GPU memory of the running job."""

    def __init__(self, process: subprocess.Popen, cuda: bool):
        self.root = psutil.Process(process.pid)
        self.cuda = cuda
        self.job: dict | None = None
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop:
            try:
                children = self.root.children(recursive=True)
                rss = sum(child.memory_info().rss for child in children)
                pids = {child.pid for child in children}
            except psutil.Error:
                rss, pids = 0, set()
            gpu = sum(v for k, v in gpu_memory_by_pid().items() if k in pids) if self.cuda else 0
            job = self.job
            if job is not None:
                job["rss"] = max(job["rss"], rss)
                job["gpu"] = max(job["gpu"], gpu)
            time.sleep(0.2)


def run_workflow(workdir: Path, cuda: bool) -> list[dict]:
    """Run snakemake in `workdir`, one job at a time; return the jobs it ran, measured."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", "1", "--resources", "gpu=1"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True)
    watcher = Watcher(process, cuda)
    jobs: list[dict] = []
    log = (workdir / "rehearsal.log").open("w")
    current: dict | None = None
    for line in process.stdout:
        log.write(line)
        log.flush()
        started = re.match(r"^(local)?rule (\w+):", line)
        if started:
            current = {"rule": started.group(2), "wildcards": "", "output": [], "rss": 0,
                       "gpu": 0, "start": time.monotonic(), "end": None}  # fmt: skip
            jobs.append(current)
            watcher.job = current
        elif current is not None and line.strip().startswith("output:"):
            current["output"] = [p.strip() for p in line.split(":", 1)[1].split(",")]
        elif current is not None and line.strip().startswith("wildcards:"):
            current["wildcards"] = line.split(":", 1)[1].strip()
        elif re.search(r"Finished job(id)?:? ", line) and current is not None:
            current["end"] = time.monotonic()
            watcher.job = None
            print(f"  {current['rule']} {current['wildcards']}: "
                  f"{current['end'] - current['start']:.0f} s", flush=True)  # fmt: skip
    process.wait()
    watcher.stop = True
    if process.returncode:
        sys.exit(f"the workflow failed; its output is in {workdir / 'rehearsal.log'}")
    for job in jobs:
        job["bytes"] = sum(written_bytes(workdir / p) for p in job["output"] if p)
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, default=128, help="training and sampling pixels")
    parser.add_argument("--workdir", type=Path, help="default: /tmp/stylesweep-rehearsal-<size>")
    parser.add_argument("--keep", action="store_true", help="keep the work folder afterwards")
    parser.add_argument(
        "--base-model",
        default="builtin:sd15-random",
        help="builtin:tiny tries the rehearsal itself in a minute",
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(f"/tmp/stylesweep-rehearsal-{args.size}")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    config = rehearsal_config(args.device, args.size, args.base_model)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    # The plan for the same config, as snakemake will read it (config.yaml of the work folder).
    schema = REPO / "schemas" / "config.schema.yaml"
    checked = workflow_config(workdir, [], schema)
    plan = make_plan(checked, train_keys(load_schema(schema)), with_memory=True)
    print(f"plan: {plan.summary()}", flush=True)

    began = time.monotonic()
    jobs = run_workflow(workdir, args.device == "cuda")
    total = time.monotonic() - began

    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    machine = f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, " \
              f"{psutil.virtual_memory().total / GIB:.0f} GiB"  # fmt: skip
    print(f"\n### Rehearsal, {args.device}, {args.size} px ({stamp}, {machine})\n")
    print(f"`python bench/rehearsal.py --device {args.device} --size {args.size}`: "
          f"{len(jobs)} jobs in {total / 60:.1f} min\n")  # fmt: skip
    print("| job | wall s | peak RSS | peak GPU | bytes written |")
    print("|---|---:|---:|---:|---:|")
    for job in jobs:
        if job["end"] is None:
            continue
        gpu = size(job["gpu"]) if job["gpu"] else "-"
        print(f"| {job['rule']} {job['wildcards']} | {job['end'] - job['start']:.0f} | "
              f"{size(job['rss'])} | {gpu} | {size(job['bytes'])} |")  # fmt: skip
    planned = summarise(plan.items)
    results = workdir / "results"
    print("\n| stage | plan | measured | measured / plan |")
    print("|---|---:|---:|---:|")
    measured_total = 0
    for stage, folders in STAGE_FOLDERS.items():
        measured = sum(written_bytes(results / folder) for folder in folders)
        measured_total += measured
        expected = planned.get(stage, 0)
        ratio = f"{measured / expected:.3f}" if expected else "-"
        print(f"| {stage} | {size(expected)} | {size(measured)} | {ratio} |")
    print(f"| total | {size(plan.disk_bytes)} | {size(measured_total)} | "
          f"{measured_total / plan.disk_bytes:.3f} |")  # fmt: skip
    print("\n| job | plan's peak GPU memory | measured peak GPU (largest job) |")
    print("|---|---:|---:|")
    for name, memory in plan.memory.items():
        mine = [
            j
            for j in jobs
            if (j["rule"], name) == ("sample", "sample")
            or (j["rule"] == "train" and f"run={name}," in j["wildcards"] + ",")
        ]
        peak = max((j["gpu"] for j in mine), default=0)
        measured = f"{peak / GIB:.1f} GiB" if peak else "- (CPU)"
        print(
            f"| {'sampling' if name == 'sample' else 'train ' + name} | "
            f"{memory.total / GIB:.1f} GiB | {measured} |"
        )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
