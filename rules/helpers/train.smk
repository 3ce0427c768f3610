# Training (rules/train.smk): a run's segments, their inputs and settings.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.sweep import prior_loss_weight, segment_settings


def previous_step(wildcards):
    """The checkpoint step a segment resumes from, or 0 for the first segment."""
    steps = checkpoint_steps(RUNS[wildcards.run])
    step = int(wildcards.step)
    if step not in steps:
        raise WorkflowError(
            f"run {wildcards.run} has no checkpoint at step {step} (has {steps})"
        )
    index = steps.index(step)
    return steps[index - 1] if index else 0


def train_inputs(wildcards):
    inputs = {
        "base": base_model_dir(),
        "base_hash": BASE_HASH,
        "latents": "results/train/latents.safetensors",
    }
    if prior_loss_weight(RUNS[wildcards.run]):
        inputs["class_latents"] = "results/train/class_images/latents.safetensors"
    if captions_file(RUNS[wildcards.run]):
        inputs["captions"] = captions_file(RUNS[wildcards.run])
    start = previous_step(wildcards)
    if start:  # its resume state lies beside it (stylesweep.resume)
        inputs["checkpoint"] = checkpoint_dir(model_name(wildcards.run, start))
    return inputs


def earlier_segments(wildcards):
    """The settings of the run's segments before this one: a segment whose resume state was
    removed (train.keep_resume: last) trains them again first. They change only when those
    segments retrain, which retrains this one anyway."""
    steps = [0] + checkpoint_steps(RUNS[wildcards.run])
    end = steps.index(previous_step(wildcards))
    return [
        segment_settings(RUNS[wildcards.run], a, b)
        for a, b in zip(steps[:end], steps[1 : end + 1])
    ]


def train_settings(wildcards):
    return segment_settings(
        RUNS[wildcards.run], previous_step(wildcards), int(wildcards.step)
    )
