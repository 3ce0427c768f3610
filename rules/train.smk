rule encode_dataset:
    input:
        base=base_model_dir(),
        dataset="results/dataset",
    output:
        "results/train/latents.safetensors",
    log:
        "logs/train/encode_dataset.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        device=config["device"],
    script:
        "../scripts/encode_dataset.py"


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoint=directory("results/train/{run}/step-{step}"),
        state="results/train/{run}/resume/step-{step}.pt",
        loss="results/train/{run}/loss/step-{step}.csv",
    log:
        "logs/train/{run}/step-{step}.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        settings=train_settings,
        device=config["device"],
    script:
        "../scripts/train.py"
