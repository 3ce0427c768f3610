include: "helpers/export.smk"


rule export:
    input:
        base=base_model_dir(),
        checkpoint="results/train/{run}/step-{step}",
    output:
        directory("results/export/{run}/step-{step}"),
    log:
        "logs/export/{run}/step-{step}.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        precision=export_precision,
        version=stage_version("export"),
    script:
        "../scripts/export.py"
