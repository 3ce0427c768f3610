import csv
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stylesweep.checkpoints import WEIGHTS, read_manifest
from stylesweep.files import DamagedFileError, sha256_file
from stylesweep.report import read_losses
from stylesweep.resume import load_state, resume_path
from stylesweep.settings import TrainSettings
from stylesweep.train import TrainingError, lr_factor, replay_missing_states, train_segment
from tests.conftest import schema_defaults, small_config, snakemake, train_settings, write_config

SETTINGS = train_settings(text_encoder_steps=2, learning_rate=1e-3)
TI = replace(SETTINGS, method="textual_inversion", num_vectors=2, init_word="painting",
             learning_rate=5e-2)  # fmt: skip


def train(tiny_model, latents, root, start, end, settings=SETTINGS, **options):
    """Train steps start+1..end of the run in `root`; return its checkpoint and resume state."""
    checkpoint = root / f"step-{end}"
    train_segment(
        base_dir=tiny_model,
        base_hash="tiny",
        latents_path=latents,
        settings=settings,
        start_step=start,
        end_step=end,
        checkpoint_dir=checkpoint,
        loss_path=root / "loss" / f"step-{end}.csv",
        run_name="test",
        **options,
    )
    return checkpoint, resume_path(root, end)


def weights(checkpoint, part):
    return load_file(str(checkpoint / WEIGHTS[part]))


def test_segments_resume_bit_for_bit_and_the_text_encoder_freezes(tiny_model, latents, tmp_path):
    one_go, _ = train(tiny_model, latents, tmp_path / "one", 0, 6)
    first = train(tiny_model, latents, tmp_path / "seg", 0, 3)
    second, _ = train(tiny_model, latents, tmp_path / "seg", 3, 6)
    for part in ("unet", "text_encoder"):
        a, b = weights(one_go, part), weights(second, part)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), part

    # the encoder trained for steps 1-2 only: step 3 and step 6 carry the same frozen encoder
    early, late = weights(first[0], "text_encoder"), weights(second, "text_encoder")
    assert all(torch.equal(early[k], late[k]) for k in early)
    base = weights(tiny_model, "text_encoder")
    assert any(not torch.equal(base[k], early[k]) for k in base)  # ...and it did train
    unet_base, unet_late = weights(tiny_model, "unet"), weights(second, "unet")
    assert any(not torch.equal(unet_base[k], unet_late[k]) for k in unet_base)

    manifest = read_manifest(second)
    assert manifest["step"] == 6 and manifest["text_encoder_trained_until"] == 2
    assert manifest["settings"]["learning_rate"] == 1e-3
    with open(tmp_path / "seg" / "loss" / "step-6.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [4, 5, 6]


def as_trained(segment: dict):
    """A segment's params as scripts/train.py hands them to train_segment."""
    return TrainSettings(
        **{k: v for k, v in segment.items() if k not in ("start_step", "end_step")}
    )


def test_an_encoder_that_trains_across_segments_resumes_as_the_workflow_cuts_them(
    tiny_model, latents, tmp_path
):
    """The workflow gives each segment `text_encoder_steps` clipped to its own steps: with the
    encoder training through steps 1-3 of 4, segment 0-2 sees 2 and segment 2-4 sees 3, and
    a stop that falls on a segment's end (0-2 with 2 steps) is no different to it."""
    from stylesweep.sweep import segment_settings

    run = {**schema_defaults()["train"], "lr_schedule": "constant", "lr_horizon": None,
           "learning_rate": 1e-3, "max_steps": 4}  # fmt: skip
    for encoder_steps in (3, 2):
        run["text_encoder_steps"] = encoder_steps
        one_go, _ = train(tiny_model, latents, tmp_path / f"one{encoder_steps}", 0, 4,
                          settings=as_trained(segment_settings(run, 0, 4)))  # fmt: skip
        root = tmp_path / f"seg{encoder_steps}"
        for start, end in ((0, 2), (2, 4)):
            settings = as_trained(segment_settings(run, start, end))
            second, _ = train(tiny_model, latents, root, start, end, settings=settings)
        for part in ("unet", "text_encoder"):
            a, b = weights(one_go, part), weights(second, part)
            assert all(torch.equal(a[k], b[k]) for k in a), (encoder_steps, part)
        assert read_manifest(second)["text_encoder_trained_until"] == encoder_steps


def segmented_equals_one_go(tiny_model, latents, root, settings, end=4, **options) -> Path:
    """Train 0..end in one go and in two segments; check the UNets match bit for bit."""
    one_go, _ = train(tiny_model, latents, root / "one", 0, end, settings=settings, **options)
    train(tiny_model, latents, root / "seg", 0, end // 2, settings=settings, **options)
    second, _ = train(tiny_model, latents, root / "seg", end // 2, end,
                      settings=settings, **options)  # fmt: skip
    a, b = weights(one_go, "unet"), weights(second, "unet")
    assert all(torch.equal(a[k], b[k]) for k in a)
    return one_go


def test_prior_preservation_trains_on_class_images_and_resumes_bit_for_bit(
    tiny_model, latents, class_latents, tmp_path
):
    settings = replace(SETTINGS, prior_loss_weight=1.0, class_prompt="an abstract image")
    with_prior = segmented_equals_one_go(tiny_model, latents, tmp_path, settings,
                                         class_latents_path=class_latents)  # fmt: skip
    assert read_manifest(with_prior)["settings"]["prior_loss_weight"] == 1.0
    plain, _ = train(tiny_model, latents, tmp_path / "plain", 0, 4)
    a, b = weights(with_prior, "unet"), weights(plain, "unet")
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the class images took part
    with pytest.raises(TrainingError, match="needs the class images"):
        train(tiny_model, latents, tmp_path / "none", 0, 2, settings=settings)
    with pytest.raises(TrainingError, match="for dreambooth and lora runs"):
        ti = replace(TI, prior_loss_weight=1.0)
        train(tiny_model, latents, tmp_path / "ti", 0, 2, settings=ti,
              class_latents_path=class_latents)  # fmt: skip


def test_8bit_adamw_keeps_its_state_in_bytes_and_resumes_bit_for_bit(tiny_model, latents, tmp_path):
    settings = replace(SETTINGS, optimizer="adamw8bit")
    segmented_equals_one_go(tiny_model, latents, tmp_path, settings)
    _, optimizer, _ = load_state(resume_path(tmp_path / "seg", 4))
    quantized = [s["__bnb_optimizer_quant_state__"] for s in optimizer["state"].values()]
    assert any(q["state1"].dtype == torch.uint8 for q in quantized)  # Adam's moments in bytes


def test_a_diverging_loss_stops_with_the_setting_to_lower(tiny_model, latents, tmp_path):
    settings = replace(SETTINGS, learning_rate=1e30)
    with pytest.raises(TrainingError, match="Lower train.learning_rate"):
        train(tiny_model, latents, tmp_path, 0, 6, settings=settings)
    assert not (tmp_path / "step-6").exists()


def test_textual_inversion_learns_only_the_key_and_resumes_bit_for_bit(
    tiny_model, latents, tmp_path
):
    one_go, _ = train(tiny_model, latents, tmp_path / "one", 0, 4, settings=TI)
    first = train(tiny_model, latents, tmp_path / "seg", 0, 2, settings=TI)
    second, _ = train(tiny_model, latents, tmp_path / "seg", 2, 4, settings=TI)
    assert sorted(p.name for p in second.iterdir()) == [
        "learned_embeds.safetensors",
        "manifest.json",
    ]
    a, b = weights(one_go, "embeddings"), weights(second, "embeddings")
    assert list(a) == ["vsynth"] and a["vsynth"].shape == (2, 64)
    assert torch.equal(a["vsynth"], b["vsynth"])
    start = weights(first[0], "embeddings")["vsynth"]
    assert not torch.equal(start, b["vsynth"])
    assert read_manifest(second)["tokens"] == ["vsynth", "vsynth_1"]


def test_learning_rate_schedules():
    constant = lr_factor(replace(SETTINGS, lr_schedule="constant"))
    assert [constant(s) for s in (0, 5, 50)] == [1.0, 1.0, 1.0]
    warm = lr_factor(replace(SETTINGS, lr_schedule="constant", lr_warmup_steps=4))
    assert [warm(s) for s in (0, 2, 4, 40)] == [0.0, 0.5, 1.0, 1.0]
    poly = lr_factor(replace(SETTINGS, lr_schedule="polynomial", lr_horizon=10))
    assert poly(0) == 1.0 and poly(5) == pytest.approx(0.5, abs=1e-6) and poly(10) < 1e-6
    cosine = lr_factor(replace(SETTINGS, lr_schedule="cosine", lr_horizon=10))
    assert cosine(5) == pytest.approx(0.5)


@pytest.mark.parametrize("schedule", ["constant", "polynomial", "cosine", "linear"])
@pytest.mark.parametrize("warmup", [0, 3])
def test_learning_rate_factors_equal_diffusers_schedules(schedule, warmup):
    from diffusers.optimization import get_scheduler

    settings = replace(SETTINGS, lr_schedule=schedule, lr_warmup_steps=warmup, lr_horizon=12)
    name = "constant_with_warmup" if schedule == "constant" and warmup else schedule
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    reference = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=12)
    ours = lr_factor(settings)
    steps = range(0, 16)
    assert [ours(s) for s in steps] == [reference.lr_lambdas[0](s) for s in steps]


def test_min_snr_equals_diffusers_compute_snr(components):
    from diffusers.training_utils import compute_snr

    from stylesweep.train import min_snr

    timesteps = torch.tensor([0, 1, 250, 500, 999])
    expected = compute_snr(components.noise_scheduler, timesteps)
    assert torch.equal(min_snr(components.noise_scheduler, timesteps), expected)


def test_noise_offset_min_snr_and_flips_change_training(tiny_model, latents, tmp_path):
    plain, _ = train(tiny_model, latents, tmp_path / "plain", 0, 2)
    for name, change in {"offset": {"noise_offset": 0.1}, "flip": {"random_flip": True}}.items():
        changed, _ = train(tiny_model, latents, tmp_path / name, 0, 2,
                           settings=replace(SETTINGS, **change))  # fmt: skip
        a, b = weights(plain, "unet"), weights(changed, "unet")
        assert any(not torch.equal(a[k], b[k]) for k in a), name
    # min-SNR scales each step's loss by min(SNR, gamma) / SNR: never up, down where SNR > gamma
    train(tiny_model, latents, tmp_path / "snr", 0, 2, settings=replace(SETTINGS, snr_gamma=0.05))
    plain_loss, snr_loss = (
        read_losses([tmp_path / d / "loss" / "step-2.csv"]) for d in ("plain", "snr")
    )
    assert snr_loss[0][1] <= plain_loss[0][1]  # step 1: same weights, same noise, loss scaled down
    assert snr_loss != plain_loss


def test_lora_trains_adapters_only_and_resumes_bit_for_bit(tiny_model, latents, tmp_path):
    lora = replace(SETTINGS, method="lora", learning_rate=1e-2, lora_rank=4, lora_alpha=4,
                   lora_dropout=0.1, lora_text_encoder=True)  # fmt: skip
    one_go, _ = train(tiny_model, latents, tmp_path / "one", 0, 4, settings=lora)
    first = train(tiny_model, latents, tmp_path / "seg", 0, 2, settings=lora)
    second, _ = train(tiny_model, latents, tmp_path / "seg", 2, 4, settings=lora)
    assert sorted(p.name for p in second.iterdir()) == [
        "manifest.json",
        "pytorch_lora_weights.safetensors",
    ]
    a, b = weights(one_go, "lora"), weights(second, "lora")
    assert a.keys() == b.keys() and any(k.startswith("text_encoder.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = weights(first[0], "lora")
    assert any(not torch.equal(start[k], b[k]) for k in b)

    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipeline.load_lora_weights(second)  # the stock loader reads the checkpoint
    assert any("lora" in name for name, _ in pipeline.unet.named_parameters())


def test_gradient_checkpointing_trains_the_same_weights(tiny_model, latents, tmp_path):
    plain, _ = train(tiny_model, latents, tmp_path / "plain", 0, 3)
    saved, _ = train(tiny_model, latents, tmp_path / "ckpt", 0, 3,
                     settings=replace(SETTINGS, gradient_checkpointing=True))  # fmt: skip
    for part in ("unet", "text_encoder"):
        a, b = weights(plain, part), weights(saved, part)
        assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), part


def test_accumulated_micro_batches_resume_bit_for_bit(tiny_model, latents, tmp_path):
    accumulate = replace(SETTINGS, gradient_accumulation_steps=2)
    one_go = segmented_equals_one_go(tiny_model, latents, tmp_path, accumulate)
    a = weights(one_go, "unet")
    single, _ = train(tiny_model, latents, tmp_path / "single", 0, 4)
    c = weights(single, "unet")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_mixed_precision(tiny_model, latents, tmp_path):
    losses = train_segment_losses(tiny_model, latents, tmp_path / "bf16",
                                  replace(SETTINGS, mixed_precision="bf16"))  # fmt: skip
    assert all(0 < loss < 10 for loss in losses)
    with pytest.raises(TrainingError, match="fp16 needs a CUDA GPU"):
        train(tiny_model, latents, tmp_path / "fp16", 0, 2,
              settings=replace(SETTINGS, mixed_precision="fp16"))  # fmt: skip


def test_running_out_of_gpu_memory_names_the_knobs(tiny_model, latents, tmp_path, monkeypatch):
    from diffusers import UNet2DConditionModel

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(UNet2DConditionModel, "forward", out_of_memory)
    with pytest.raises(TrainingError, match="gradient_checkpointing.*mixed_precision.*lora"):
        train(tiny_model, latents, tmp_path, 0, 2)


def train_segment_losses(tiny_model, latents, root, settings):
    train(tiny_model, latents, root, 0, 2, settings=settings)
    return [loss for _, loss in read_losses([root / "loss" / "step-2.csv"])]


LORA_IN_A_FRESH_PROCESS = """
import sys
from tests.conftest import schema_defaults, small_config, snakemake, train_settings, write_config
from stylesweep.train import train_segment

base, latents, out = sys.argv[1:4]
train_segment(
    base_dir=base, base_hash="tiny", latents_path=latents, start_step=0, end_step=1,
    settings=train_settings(method="lora", learning_rate=1e-2, lora_text_encoder=True),
    checkpoint_dir=out + "/step-1", loss_path=out + "/loss.csv", run_name="lora",
)
"""


def test_the_same_lora_run_writes_the_same_bytes_in_two_processes(tiny_model, latents, tmp_path):
    """peft keeps target modules in a set, whose order follows the process's hash seed, and
    safetensors keeps metadata in a Rust HashMap, whose order is random in each process."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    for seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", LORA_IN_A_FRESH_PROCESS, str(tiny_model), str(latents),
             str(tmp_path / seed)],
            check=True, cwd=REPO, env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
    for name in ("pytorch_lora_weights.safetensors", "manifest.json"):
        first, second = (tmp_path / seed / "step-1" / name for seed in ("1", "2"))
        assert sha256_file(first) == sha256_file(second), name  # a digest: bytes flood the log


def test_truncated_latents_are_named_with_the_fix(tiny_model, latents, tmp_path):
    truncated = tmp_path / "latents.safetensors"
    truncated.write_bytes(Path(latents).read_bytes()[:-100])
    with pytest.raises(DamagedFileError) as caught:
        train(tiny_model, truncated, tmp_path, 0, 2)
    message = str(caught.value)
    assert message.startswith(f"{truncated} is truncated or damaged (")
    assert message.endswith(
        "delete it and rerun snakemake (or run `snakemake --forcerun encode_dataset`)"
    )
    assert "\n" not in message


def test_checkpoints_are_fp16_and_only_the_last_resume_state_is_kept(tiny_model, latents, tmp_path):
    for start, end in ((0, 2), (2, 4), (4, 6)):
        checkpoint, state = train(tiny_model, latents, tmp_path / "run", start, end)
    assert {t.dtype for t in weights(checkpoint, "unet").values()} == {torch.float16}
    assert sorted(p.name for p in (tmp_path / "run" / "resume").iterdir()) == ["step-6.safetensors"]
    saved, optimizer, _ = load_state(state)
    assert {t.dtype for t in saved.values()} == {torch.float32}
    # the text encoder stopped training at step 2: its moments left the optimizer
    assert any(name.startswith("text_encoder.") for name in saved)  # fp32, for exactness
    assert len(optimizer["param_groups"]) == 1

    keep_all = tmp_path / "all"
    for start, end in ((0, 2), (2, 4)):
        train(tiny_model, latents, keep_all, start, end, keep_resume="all")
    assert sorted(p.name for p in (keep_all / "resume").iterdir()) == [
        "step-2.safetensors", "step-4.safetensors",
    ]  # fmt: skip


def test_a_segment_whose_resume_state_was_removed_replays_to_the_same_weights(
    tiny_model, latents, tmp_path
):
    one_go, _ = train(tiny_model, latents, tmp_path / "one", 0, 6)
    run = tmp_path / "run"
    for start, end in ((0, 2), (2, 4)):
        train(tiny_model, latents, run, start, end)
    shutil.rmtree(run / "step-4")  # as if its settings had changed: step-2's state is gone
    common = dict(base_dir=tiny_model, base_hash="tiny", latents_path=latents,
                  checkpoint_dir=run / "step-4", loss_path=run / "loss" / "step-4.csv",
                  run_name="test")  # fmt: skip
    replay_missing_states([(0, 2, SETTINGS)], 2, **common)
    assert resume_path(run, 2).is_file() and not (run / ".replay-step-2").exists()
    train(tiny_model, latents, run, 2, 4)
    last, _ = train(tiny_model, latents, run, 4, 6)
    a, b = weights(one_go, "unet"), weights(last, "unet")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (run / "resume").iterdir()) == ["step-6.safetensors"]


def test_textual_inversion_keeps_the_moments_of_its_key_rows_only(tiny_model, latents, tmp_path):
    _, state = train(tiny_model, latents, tmp_path, 0, 2, settings=TI)
    saved, optimizer, _ = load_state(state)
    assert list(saved) == ["embeddings"] and saved["embeddings"].shape == (2, 64)
    moments = optimizer["state"][0]
    assert moments["exp_avg"].shape == moments["exp_avg_sq"].shape == (2, 64)
    assert state.stat().st_size < 4096


def test_keep_resume_none_leaves_no_state_once_a_run_is_done(tmp_path):
    """Through the workflow: the train script finds the run's last step in the config."""
    config = small_config()
    config["train"].update(keep_resume="none", extra_runs=[])
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "results/train/te~0.25/step-4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "results" / "train" / "te~0.25" / "step-4" / "manifest.json").is_file()
    assert list((tmp_path / "results" / "train" / "te~0.25" / "resume").iterdir()) == []
