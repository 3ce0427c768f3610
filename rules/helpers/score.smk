# Scoring (rules/score.smk): each score job's inputs; the scorers checked before any job.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.sources import BUILTIN_TOY, CSD_REPO, uncached_scorers


def score_inputs(wildcards):
    """A run's score job compares with the base model's pictures, whose embeddings the base
    model's own score job wrote."""
    inputs = {
        "samples": f"results/samples/{wildcards.group}/images.json",
        "base": "results/samples/base/images.json",
        "dataset": "results/dataset",
        "variants": "results/prompts/variants.json",
    }
    if wildcards.group != "base":
        inputs["base_embeddings"] = "results/scores/base.embeddings.safetensors"
    return inputs


def check_scorers():
    """The scorers that come from the hub are in the local cache: checked before any job."""
    score = config["score"]
    style = score["style_model"]
    if style not in (BUILTIN_TOY, CSD_REPO) and not Path(style).is_dir():
        raise WorkflowError(
            f"config key 'score.style_model': {style} is neither builtin:toy, {CSD_REPO} nor "
            f"a folder; set one of them in config.yaml"
        )
    missing = uncached_scorers(style, score["structure_model"])
    if missing:
        fetch = " and ".join(f"`hf download {repo}`" for repo in missing)
        raise WorkflowError(
            f"config key 'score': {', '.join(missing)} not in the local Hugging Face cache, "
            f"and stylesweep never downloads at run time; fetch once with {fetch}, or set "
            f"score.style_model: builtin:toy and score.structure_model: null"
        )


if workflow.is_main_process:
    check_scorers()
