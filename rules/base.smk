rule make_base_model:
    output:
        directory("results/base/model"),
    log:
        "logs/base/make_base_model.log",
    params:
        seed=0,
    conda:
        "../envs/stylesweep.yaml"
    script:
        "../scripts/make_base_model.py"
