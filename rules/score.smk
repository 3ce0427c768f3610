include: "helpers/score.smk"


rule score:
    input:
        unpack(score_inputs),
    output:
        scores="results/scores/{group}.json",
        embeddings="results/scores/{group}.embeddings.safetensors",
    log:
        "logs/score/{group}.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        clip_model=param(config["prompts"]["interrogator"]["clip_model"]),
        style_model=param(config["score"]["style_model"]),
        structure_model=param(config["score"]["structure_model"]),
        version=stage_version("score"),
    script:
        "../scripts/score.py"
