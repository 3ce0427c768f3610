include: "helpers/sample.smk"


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
        seeds=param(config["sample"]["seeds"]),
        cfg_scales=param(config["sample"]["cfg_scales"]),
        sampler=param(config["sample"]["sampler"]),
        steps=param(config["sample"]["steps"]),
        size=param(config["sample"]["size"]),
        clip_skip=param(config["sample"]["clip_skip"]),
        emphasis=param(config["sample"]["emphasis"]),
        wrap_length=param(config["sample"]["wrap_length"]),
        pad_conds=param(config["sample"]["pad_conds"]),
        strengths=group_strengths,
        version=stage_version("sample"),
    script:
        "../scripts/sample.py"
