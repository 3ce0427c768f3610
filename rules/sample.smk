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
        settings=sample_settings,
        version=stage_version("sample"),
    script:
        "../scripts/sample.py"
