include: "helpers/dataset.smk"


rule make_demo_stills:
    output:
        directory("results/demo/stills"),
    log:
        "logs/dataset/make_demo_stills.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        images=param(config["dataset"]["demo_count"]),
        version=stage_version("make_demo_stills"),
    script:
        "../scripts/make_demo_stills.py"


rule prepare_dataset:
    input:
        stills=stills_folder(),
    output:
        directory("results/dataset"),
    log:
        "logs/dataset/prepare_dataset.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        stills=param(stills_fingerprint()),
        resolution=param(config["dataset"]["resolution"]),
        crop=param(config["dataset"]["crop"]),
        video=param(video_settings()),
        validation_count=param(config["dataset"]["validation_count"]),
        version=stage_version("prepare_dataset"),
    script:
        "../scripts/prepare_dataset.py"
