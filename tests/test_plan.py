"""The plan (python -m stylesweep.plan): its byte counts against files training writes, its
memory arithmetic against a small model's tensors, and the pre-flight refusal."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from stylesweep.config import load_schema, train_keys, workflow_config
from stylesweep.plan import GIB, make_plan, preflight
from stylesweep.plan.disk import checkpoint_bytes, state_bytes
from stylesweep.plan.memory import measure_activations, sampling_memory, training_memory
from stylesweep.plan.tensors import component_tables, safetensors_bytes
from stylesweep.sweep import expand_runs
from tests.conftest import REPO, SNAKEMAKE, small_config, train_settings, write_config


def test_safetensors_sizes_are_exact(tmp_path):
    tensors = {
        "b.w": torch.zeros(3, 5, dtype=torch.float16),
        "a": torch.zeros(7),
        "c": torch.zeros((), dtype=torch.float32),
        "d": torch.zeros(9, dtype=torch.uint8),
    }
    for metadata in (None, {"format": "pt"}, {"scaler": "null", "param_groups": "[1, 2]"}):
        save_file(tensors, tmp_path / "x.safetensors", metadata=metadata)
        entries = [(n, {torch.float16: "F16", torch.float32: "F32", torch.uint8: "U8"}[t.dtype],
                    list(t.shape)) for n, t in tensors.items()]  # fmt: skip
        assert safetensors_bytes(entries, metadata) == (tmp_path / "x.safetensors").stat().st_size


def run_settings(**overrides) -> dict:
    """A run of the sweep as the workflow expands it, from the schema's defaults."""
    config = workflow_config(REPO, [])
    config["train"].update(sweep={}, extra_runs=[], **overrides)
    runs = expand_runs(
        config["train"], train_keys(load_schema(REPO / "schemas" / "config.schema.yaml"))
    )
    return runs["default"]


@pytest.mark.parametrize("method", ["dreambooth", "textual_inversion", "lora"])
def test_checkpoint_and_resume_bytes_match_what_training_writes(
    tiny_model, latents, tmp_path, method
):
    from stylesweep.train import train_segment

    extra = {"lora": {"lora_text_encoder": True}, "textual_inversion": {"num_vectors": 2}}
    extra = extra.get(method, {})
    segment = train_settings(method=method, text_encoder_steps=1, learning_rate=1e-3, **extra)
    train_segment(base_dir=tiny_model, base_hash="tiny", latents_path=latents, settings=segment,
                  start_step=0, end_step=2, checkpoint_dir=tmp_path / "step-2",
                  loss_path=tmp_path / "loss.csv", run_name=method)  # fmt: skip
    tables = component_tables("builtin:tiny")
    settings = run_settings(method=method, text_encoder_steps=1, **extra)
    weights, _ = checkpoint_bytes(tables, settings)
    written = sum(p.stat().st_size for p in (tmp_path / "step-2").rglob("*.safetensors"))
    if method == "lora":  # the adapters' config in the header is estimated
        assert abs(weights - written) < 0.02 * written
    else:
        assert weights == written
    state = (tmp_path / "resume" / "step-2.safetensors").stat().st_size
    assert abs(state_bytes(tables, settings, after_encoder=True) - state) <= max(64, 0.002 * state)


def test_memory_arithmetic_matches_the_tensors_of_a_small_model(components):
    from stylesweep.train import make_optimizer

    tables = component_tables("builtin:tiny")
    settings = run_settings(text_encoder_steps=1)
    memory = training_memory(tables, settings, "builtin:tiny", 64)
    unet, encoder = components.unet, components.text_encoder
    real = sum(p.numel() * p.element_size() for m in (unet, encoder) for p in m.parameters())
    assert memory.weights == real and memory.gradients == real
    parameters = [
        p.detach().clone().requires_grad_(True) for m in (unet, encoder) for p in m.parameters()
    ]
    for p in parameters:
        p.grad = torch.zeros_like(p)
    optimizer = make_optimizer([{"params": parameters}], train_settings())
    optimizer.step()
    moments = sum(t.numel() * t.element_size() for s in optimizer.state.values()
                  for k, t in s.items() if k != "step")  # fmt: skip
    assert memory.optimizer == moments
    # activations counted on fake tensors equal those counted on the real model
    saved = set()

    def pack(tensor):
        saved.add((tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes()))
        return tensor

    own = {p.untyped_storage().data_ptr() for m in (unet, encoder) for p in m.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        states = encoder(torch.zeros(1, 77, dtype=torch.long))[0]
        unet(torch.randn(1, 4, 8, 8), torch.zeros(1, dtype=torch.long), states)
    real_saved = sum(n for ptr, n in saved if ptr not in own)
    fake = measure_activations("builtin:tiny", 64, 1, False, True)
    assert fake.saved_bytes == pytest.approx(real_saved, rel=0.02)
    assert fake.checkpointed_bytes < fake.saved_bytes
    sampling = sampling_memory(tables, "builtin:tiny", 64, 4)
    vae = sum(p.numel() for p in components.vae.parameters())
    assert sampling.weights == (real // 4 + vae) * 2  # fp16 on a GPU


def small_plan(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(json.dumps(small_config()))
    config = workflow_config(REPO, [path])
    return make_plan(config, train_keys(load_schema(REPO / "schemas" / "config.schema.yaml")))


def test_preflight_refuses_when_results_lack_the_space(tmp_path, monkeypatch):
    plan = small_plan(tmp_path)
    monkeypatch.setenv("STYLESWEEP_FREE_BYTES", str(plan.disk_bytes // 2))
    with pytest.raises(OSError, match="still has .* to write under .* only .* is free") as error:
        preflight(plan, tmp_path / "results")
    assert "train.save_precision" in str(error.value)
    monkeypatch.setenv("STYLESWEEP_FREE_BYTES", str(plan.disk_bytes * 2))
    assert "still to write" in preflight(plan, tmp_path / "results")


def test_the_score_jobs_weights_are_its_models_parameters_in_fp32(tmp_path):
    from transformers import Dinov2Config, Dinov2Model

    from stylesweep.clip_model import load_clip
    from stylesweep.plan.scoring import scoring_memory
    from stylesweep.style_content import load

    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64, patch_size=14)  # fmt: skip
    Dinov2Model(config).save_pretrained(tmp_path / "dino")
    memory = scoring_memory("builtin:toy", "builtin:toy", str(tmp_path / "dino"))
    clip, _, _ = load_clip("builtin:toy", "cpu")
    scorer = load("builtin:toy", None, "cpu").model
    dino = Dinov2Model(config)
    count = sum(p.numel() for m in (clip, scorer, dino) for p in m.parameters())
    assert memory.weights == 4 * count
    assert memory.activations > 0 and memory.gradients == memory.optimizer == 0


def test_the_cli_prints_json_and_names_settings_that_fit(tmp_path):
    blog = REPO / "examples" / "blog-sd15-t4.yaml"
    fp32 = tmp_path / "fp32.yaml"
    fp32.write_text(
        "train: {gradient_checkpointing: false, mixed_precision: 'no', optimizer: adamw}\n"
    )
    env = {"STYLESWEEP_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "stylesweep.plan", "--directory", str(REPO), "--configfile"]
    out = subprocess.run(
        run + [str(blog), "--json"], capture_output=True, text=True, env=env, check=True
    )
    plan = json.loads(out.stdout)
    assert set(plan["runs"]) == {"te~0.05", "te~0.1", "te~0.15", "te~0.2"}
    assert all(r["train_steps"] == 6000 for r in plan["runs"].values())
    # (base, words and 12 checkpoints) x (the portrait's 6 variants + 5 subjects x 3
    # placements) x seeds x CFG scales
    assert plan["images"] == 14 * (6 + 5 * 3) * 4 * 2
    # fp32 ViT-L-14 (428 M), CSD-ViT-L (305 M) and DINOv2-base (86 M), and CUDA's overhead
    assert 3.9 * GIB < plan["score_gpu_memory_bytes"] < 4.2 * GIB
    text = subprocess.run(run + [str(blog), str(fp32), "--gpu-memory", "16"], capture_output=True,
                          text=True, env=env, check=True).stdout  # fmt: skip
    assert "DOES NOT FIT" in text and "it needs" in text and "train.gradient_checkpointing" in text
    tiny = subprocess.run(run + [str(blog), "--gpu-memory", "1"], capture_output=True, text=True,
                          env=env, check=True).stdout  # fmt: skip
    assert "no setting fits 1 GiB; the smallest the plan found is" in tiny


def test_the_plan_of_a_workflow_run_matches_its_files(finished):
    """The small config's plan against what its run wrote: each checkpoint's weights to the
    byte, each kept resume state, and the whole within 10 %."""
    schema = REPO / "schemas" / "config.schema.yaml"
    config = workflow_config(finished, [], schema)
    plan = make_plan(config, train_keys(load_schema(REPO / "schemas" / "config.schema.yaml")))
    tables = component_tables(config["base_model"])
    results = finished / "results"
    planned_states = {i.path: i.bytes for i in plan.items if "/resume/" in i.path}
    written_states = {str(p.relative_to(finished)): p.stat().st_size
                      for p in results.glob("train/*/resume/*.safetensors")}  # fmt: skip
    assert planned_states.keys() == written_states.keys()
    for path, count in written_states.items():
        assert abs(planned_states[path] - count) <= max(64, 0.002 * count), path
    for run, settings in plan.runs.items():
        weights, _ = checkpoint_bytes(tables, settings)
        for folder in results.glob(f"train/{run}/step-*"):
            assert sum(p.stat().st_size for p in folder.rglob("*.safetensors")) == weights
    written = sum(p.stat().st_size for p in results.rglob("*") if p.is_file())
    assert plan.disk_bytes == pytest.approx(written, rel=0.10)


def test_snakemake_stops_before_any_job_without_the_space(tmp_path):
    write_config(tmp_path, small_config())
    env = {**os.environ, "STYLESWEEP_FREE_BYTES": "1000"}
    result = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--cores", "1", "--resources", "gpu=1"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "only 1.0 kB is free there" in result.stderr
    assert "train.keep_resume: none" in result.stderr
    assert not (tmp_path / "results").exists()
