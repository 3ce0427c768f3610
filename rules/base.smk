include: "helpers/base.smk"


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
        source=param(config["base_model"]),
        seed=0,
        version=stage_version("make_base_model"),
    script:
        "../scripts/make_base_model.py"


# The base model's weights are hashed once, here; later jobs read the hash from this file.
rule hash_base_model:
    input:
        base_model_dir(),
    output:
        BASE_HASH,
    log:
        "logs/base/hash_base_model.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        version=stage_version("hash_base_model"),
    script:
        "../scripts/hash_base_model.py"
