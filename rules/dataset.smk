rule make_demo_stills:
    output:
        directory("results/demo/stills"),
    params:
        images=config["dataset"]["demo_count"],
    log:
        "logs/dataset/make_demo_stills.log",
    script:
        "../scripts/make_demo_stills.py"


rule prepare_dataset:
    input:
        stills_inputs(),
    output:
        directory("results/dataset"),
    params:
        stills=stills_folder(),
        resolution=config["dataset"]["resolution"],
        crop=config["dataset"]["crop"],
    log:
        "logs/dataset/prepare_dataset.log",
    script:
        "../scripts/prepare_dataset.py"
