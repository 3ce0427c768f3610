rule make_base_model:
    input:
        base_model_file(),
    output:
        directory("results/base/model"),
    log:
        "logs/base/make_base_model.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        source=config["base_model"],
        seed=0,
    script:
        "../scripts/make_base_model.py"
