rule make_demo_stills:
    output:
        directory("results/demo/stills"),
    log:
        "logs/dataset/make_demo_stills.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        images=config["dataset"]["demo_count"],
    script:
        "../scripts/make_demo_stills.py"


rule prepare_dataset:
    input:
        stills=stills_folder(),
        files=stills_files(),
    output:
        directory("results/dataset"),
    log:
        "logs/dataset/prepare_dataset.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        resolution=config["dataset"]["resolution"],
        crop=config["dataset"]["crop"],
    script:
        "../scripts/prepare_dataset.py"
