from stylesweep.sources import CSD_REPO, uncached_scorers


def check_scorers():
    """The scorers that come from the hub are in the local cache: checked before any job."""
    score = config["score"]
    style = score["style_model"]
    if style not in ("builtin:toy", CSD_REPO) and not Path(style).is_dir():
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


check_scorers()


rule score:
    input:
        samples="results/samples/{group}/images.json",
        base="results/samples/base/images.json",
        dataset="results/dataset",
        variants="results/prompts/variants.json",
    output:
        "results/scores/{group}.json",
    log:
        "logs/score/{group}.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        clip_model=param(config["prompts"]["interrogator"]["clip_model"]),
        style_model=param(config["score"]["style_model"]),
        structure_model=param(config["score"]["structure_model"]),
        version=stage_version("score"),
    script:
        "../scripts/score.py"
