rule make_base_model:
    output:
        directory("results/base/model"),
    params:
        seed=0,
    log:
        "logs/base/make_base_model.log",
    script:
        "../scripts/make_base_model.py"
