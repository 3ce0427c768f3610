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


rule render_class_images:
    input:
        base=base_model_dir(),
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
        prompt=config["train"]["class_prompt"],
        number=config["train"]["num_class_images"],
        size=config["dataset"]["resolution"],
        sampler=config["sample"]["sampler"],
        steps=config["sample"]["steps"],
        cfg_scale=7.5,  # diffusers' default guidance, as its DreamBooth example renders them
        batch_size=config["sample"]["batch_size"],
        device=config["device"],
    script:
        "../scripts/render_class_images.py"


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
