rule make_demo_stills:
    output:
        directory("results/demo/stills"),
    log:
        "logs/dataset/make_demo_stills.log",
    params:
        images=config["dataset"]["demo_count"],
    script:
        "../scripts/make_demo_stills.py"


rule prepare_dataset:
    input:
        stills_inputs(),
    output:
        directory("results/dataset"),
    log:
        "logs/dataset/prepare_dataset.log",
    params:
        stills=stills_folder(),
        resolution=config["dataset"]["resolution"],
        crop=config["dataset"]["crop"],
    script:
        "../scripts/prepare_dataset.py"
