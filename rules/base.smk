rule make_base_model:
    output:
        directory("results/base/model"),
    log:
        "logs/base/make_base_model.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        seed=0,
    script:
        "../scripts/make_base_model.py"
