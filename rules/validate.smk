include: "helpers/validate.smk"


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
