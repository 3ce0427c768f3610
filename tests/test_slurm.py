"""profiles/slurm, through snakemake-executor-plugin-slurm.

The first test starts a real one-node SLURM cluster on this machine (.ci/start_slurm.sh:
Debian's slurm-wlm and munge, as root, no systemd) and runs a tiny workflow through the
slurm executor to the report; it is skipped, with the script's reason, where that cannot
be done (no root, no apt-get, a machine with a SLURM of its own). The second needs no
cluster: it asks the plugin for the sbatch command line of every job of a dry run. The
last checks that the machine is left as fast as it was: a user's `snakemake -n` afterwards
does not wait on the stopped cluster.
Run them alone with `pytest -m slurm`.

The plugin lives in .venv/slurm-plugin (setup.sh test), not in .venv: these tests alone put
it on the path (PYTHONPATH for their snakemake runs, sys.path for the command builder).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, SLURM_PLUGIN, SNAKEMAKE, small_config, write_config
from .test_config import gpu_rules

pytestmark = pytest.mark.slurm
PROFILE = REPO / "profiles" / "slurm"
START = REPO / ".ci" / "start_slurm.sh"
NO_PLUGIN = f"no SLURM plugin in {SLURM_PLUGIN}: bash setup.sh test installs it there"


def with_plugin(env: dict[str, str]) -> dict[str, str]:
    """`env` with the SLURM plugin on the path of Snakemake and of the jobs it submits."""
    if not (SLURM_PLUGIN / "snakemake_executor_plugin_slurm").is_dir():
        pytest.skip(NO_PLUGIN)
    paths = [str(SLURM_PLUGIN), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def tiny_config() -> dict:
    """The small test config cut to one job per stage: one run of one segment, one prompt,
    one seed, and a base prompt given in words (no interrogation)."""
    config = small_config()
    config["base_model"] = "builtin:tiny"
    config["dataset"]["demo_count"] = 2
    config["train"].update(max_steps=2, checkpoint_every=2, extra_runs=[])
    config["prompts"].update(base_prompt="a portrait of an astronaut", placements=["start"],
                             weights=[1.0])  # fmt: skip
    config["prompts"]["interrogator"].update(
        clip_model="builtin:tiny", caption_model="builtin:tiny"
    )
    config["sample"].update(seeds=[1], cfg_scales=[7], steps=2)
    config["export"]["checkpoints"] = []
    config["animate"]["animations"]["drift"].update(
        models="te~0.25/step-2", max_frames=2, steps="0: (2)"
    )
    return config


@pytest.fixture
def slurm_cluster():
    """A one-node SLURM cluster on this machine, started for the test when it was not up,
    and stopped after it (then the tests after it see the machine as a user does)."""
    was_up = shutil.which("sinfo") is not None and subprocess.run(
        ["sinfo", "-h"], capture_output=True, timeout=60
    ).returncode == 0  # fmt: skip
    result = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and not was_up:  # leave nothing half started behind
        subprocess.run(["bash", str(START), "stop"], capture_output=True, timeout=60)
    if result.returncode == 2:
        pytest.skip(f"no SLURM test cluster here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stdout + result.stderr
    yield result.stdout.strip().split("SLURM_CONF=")[-1]
    if not was_up:
        subprocess.run(["bash", str(START), "stop"], capture_output=True, timeout=60)


def scheduler_records(run_id: str) -> list[dict[str, str]]:
    """What slurmctld holds about the jobs of one Snakemake run (finished jobs stay for
    MinJobAge, 10 minutes on the test cluster)."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    records = [dict(field.split("=", 1) for field in line.split() if "=" in field)
               for line in shown.splitlines()]  # fmt: skip
    return [record for record in records if record.get("JobName") == run_id]


@pytest.mark.workflow
def test_the_workflow_runs_on_a_slurm_cluster_to_the_report(slurm_cluster, tmp_path):
    write_config(tmp_path, tiny_config())
    env = with_plugin(os.environ | {"SLURM_CONF": slurm_cluster})
    env.pop("CUDA_VISIBLE_DEVICES", None)
    command = [
        SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
        "--profile", str(PROFILE), "--jobs", "2",
        # the test cluster has no accounting database (see the profile)
        "--slurm-status-command", "squeue", "--slurm-no-account",
        # tiny jobs: look at the queue often
        "--slurm-init-seconds-before-status-checks", "2",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-6000:]
    assert (tmp_path / "results" / "report" / "index.html").is_file()

    # Every job went through the scheduler, and exactly the GPU rules' jobs asked it for a
    # GPU (the node declares one, so they ran as on a GPU node)...
    run_id = re.search(r"SLURM run ID: (\S+)", result.stderr).group(1)
    records = scheduler_records(run_id)
    ran = {re.sub(r"^rule_|_wildcards_.*$", "", record["Comment"]) for record in records}
    assert {"train", "sample", "score", "report", "publish_report"} <= ran
    asked_gpu = {re.sub(r"^rule_|_wildcards_.*$", "", record["Comment"]) for record in records
                 if "gres:gpu:1" in record.get("TresPerJob", "")}  # fmt: skip
    assert asked_gpu == gpu_rules() & ran
    assert all(record["JobState"] == "COMPLETED" for record in records)
    # ...and kept the GPU SLURM gave it (the pool claims nothing under SLURM).
    train_log = next((tmp_path / "logs" / "train").glob("*/*.log")).read_text()
    assert "keeping the GPUs this job was given (CUDA_VISIBLE_DEVICES=0)" in train_log


class Resources(dict):
    """A job's resources as the plugin reads them (`.get` and attributes)."""

    __getattr__ = dict.__getitem__


class Job:
    def __init__(self, rule: str, resources: dict):
        self.name, self.resources, self.threads = rule, Resources(resources), 1


def no_scontrol(folder: Path) -> dict[str, str]:
    """The environment with a stand-in `scontrol` that fails at once, for runs that need no
    cluster (the plugin's start-up query would wait 10 s where SLURM is installed but down)."""
    (folder / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    (folder / "scontrol").chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def planned_jobs(workdir: Path, profile: Path) -> list[Job]:
    """The jobs of a dry run through `profile`, with the resources Snakemake gives them."""
    result = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--profile", str(profile), "--dry-run"],
        capture_output=True, text=True, timeout=300,
        env=with_plugin(no_scontrol(workdir)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    jobs = []
    for rule, resources in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$",
                                      result.stdout + result.stderr, re.M):  # fmt: skip
        values = dict(item.split("=", 1) for item in resources.split(", "))
        jobs.append(Job(rule, {k: int(v) if v.isdigit() else v for k, v in values.items()}))
    return jobs


def sbatch_call(job: Job) -> str:
    """The sbatch command line the plugin builds for `job` (as in its Executor.run_job)."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    params = {"run_uuid": "run", "slurm_logfile": "log", "comment_str": f"rule_{job.name}",
              "account": "", "partition": "", "workdir": "/w"}  # fmt: skip
    return get_submit_command(job, params) + set_gres_string(job)


def test_gpu_jobs_and_only_they_ask_slurm_for_a_gpu(tmp_path, monkeypatch):
    """No GPU needed: the plugin's own command builder, on the jobs of a dry run."""
    with_plugin({})
    monkeypatch.syspath_prepend(str(SLURM_PLUGIN))
    config = tiny_config()
    config["prompts"]["base_prompt"] = ""  # interrogation: base_prompt is a GPU job
    config["train"]["prior_loss_weight"] = 1.0  # render_class_images too
    config["dataset"]["validation_count"] = 1  # and validate
    config["prompts"]["words_baseline"] = 3  # and interrogate_stills
    config["train"]["captions"] = "auto"  # and caption_stills
    write_config(tmp_path, config)
    # The profile as shipped, and with a GPU model added where its comment says.
    text = (PROFILE / "config.yaml").read_text()
    assert "  train: &gpu\n" in text
    (tmp_path / "a100").mkdir()
    (tmp_path / "a100" / "config.yaml").write_text(
        text.replace("  train: &gpu\n", "  train: &gpu\n    gpu_model: a100\n")
    )
    for profile, gpus in ((PROFILE, "--gpus=1"), (tmp_path / "a100", "--gpus=a100:1")):
        jobs = planned_jobs(tmp_path, profile)
        assert {job.name for job in jobs} >= gpu_rules()  # every GPU rule is planned
        for job in jobs:
            call = shlex.split(sbatch_call(job))
            assert "-t" in call and "--mem" in call, call
            if job.name in gpu_rules():
                assert gpus in call and "--cpus-per-gpu=4" in call, (job.name, call)
            else:
                assert not [arg for arg in call if arg.startswith("--gpus")], (job.name, call)
                assert "--cpus-per-task=1" in call, (job.name, call)
    # runtimes and memory are set for every rule, in the profile alone
    profile = yaml.safe_load(text)
    assert {"runtime", "mem_mb"} <= set(profile["default-resources"])


def dry_run_seconds(workdir: Path, env: dict[str, str]) -> float:
    """The best of two wall times of `snakemake -n` in `workdir`."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        result = subprocess.run([SNAKEMAKE, "-n", "--directory", str(workdir), "-s",
                                 str(REPO / "Snakefile")], capture_output=True, text=True,
                                env=env, timeout=300)  # fmt: skip
        times.append(time.perf_counter() - start)
        assert result.returncode == 0, result.stderr[-3000:]
    return min(times)


def test_the_machine_is_as_fast_after_the_slurm_tests(tmp_path):
    """After the cluster test (which installs SLURM and stops its daemons), a user's dry run
    takes as long as one where SLURM cannot keep it waiting: the plugin is not in .venv, and
    the stopped cluster's configuration is gone from /etc/slurm. With the plugin in .venv
    this took 10.7 s against about 1 s (issue #20)."""
    write_config(tmp_path, tiny_config())
    (tmp_path / "bin").mkdir()
    as_a_user = dry_run_seconds(tmp_path, dict(os.environ))
    slurm_answers_at_once = dry_run_seconds(tmp_path, no_scontrol(tmp_path / "bin"))
    assert as_a_user < 1.5 * slurm_answers_at_once + 1, (
        f"a dry run took {as_a_user:.1f} s, {slurm_answers_at_once:.1f} s where SLURM answers at "
        "once: is the SLURM plugin in .venv with the test cluster stopped?"
    )
