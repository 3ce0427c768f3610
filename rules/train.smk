include: "helpers/train.smk"


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
        version=stage_version("encode_dataset"),
    script:
        "../scripts/encode_dataset.py"


rule render_class_images:
    input:
        base=base_model_dir(),
        base_hash=BASE_HASH,
    output:
        latents="results/train/class_images/latents.safetensors",
        images=directory("results/train/class_images/images"),
        manifest="results/train/class_images/manifest.json",
    log:
        "logs/train/render_class_images.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        prompt=param(config["train"]["class_prompt"]),
        number=param(config["train"]["num_class_images"]),
        size=param(config["dataset"]["resolution"]),
        sampler=param(config["train"]["class_sampler"]),
        steps=param(config["train"]["class_steps"]),
        cfg_scale=param(config["train"]["class_cfg_scale"]),
        version=stage_version("render_class_images"),
    script:
        "../scripts/render_class_images.py"


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoint=directory("results/train/{run}/step-{step}"),
        loss="results/train/{run}/loss/step-{step}.csv",
    log:
        "logs/train/{run}/step-{step}.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        settings=train_settings,
        earlier_segments=earlier_segments,
        version=stage_version("train"),
    script:
        "../scripts/train.py"
