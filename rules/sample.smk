rule sample:
    input:
        unpack(sample_inputs),
    output:
        "results/samples/{group}/images.json",
    log:
        "logs/sample/{group}.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        models=lambda wildcards: group_models(wildcards.group),
        seeds=config["sample"]["seeds"],
        cfg_scales=config["sample"]["cfg_scales"],
        sampler=config["sample"]["sampler"],
        steps=config["sample"]["steps"],
        size=config["sample"]["size"],
        clip_skip=config["sample"]["clip_skip"],
        emphasis=config["sample"]["emphasis"],
        batch_size=config["sample"]["batch_size"],
        device=config["device"],
    script:
        "../scripts/sample.py"
