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
        precision=config["export"]["precision"],
    script:
        "../scripts/export.py"
