def validation_models():
    """Every model the report compares: the base model, then each run's checkpoints."""
    models = {"base": None}
    for run in RUNS:
        models |= group_models(run)
    return models


def validation_prompt():
    """The instance prompt with the key, as config.yaml's train section writes them."""
    train = config["train"]
    return train["instance_prompt"].format(key=train["key"])


def validation_files():
    """The validation losses, for the report: none when no still is held out."""
    if config["dataset"]["validation_count"] == 0:
        return []
    return ["results/validation/losses.json"]


# One job for every model: a model measured before with the same weights is read back.
rule validate:
    input:
        base=base_model_dir(),
        base_hash=BASE_HASH,
        latents="results/train/latents.safetensors",
        checkpoints=[folder for folder in validation_models().values() if folder],
    output:
        "results/validation/losses.json",
    log:
        "logs/validation/validate.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        models=param(validation_models()),
        prompt=param(validation_prompt()),
        version=stage_version("validate"),
    script:
        "../scripts/validate.py"
