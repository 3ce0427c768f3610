rule base_prompt:
    input:
        portraits=portrait_paths(),
    output:
        text="results/prompts/base.txt",
        details="results/prompts/base.json",
    log:
        "logs/prompts/base_prompt.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        texts=param(base_prompt_texts()),
        interrogator=param(interrogator_settings()),
        cache="resources/clip-interrogator",
        version=stage_version("base_prompt"),
    script:
        "../scripts/base_prompt.py"


rule prompt_variants:
    input:
        "results/prompts/base.json",
    output:
        "results/prompts/variants.json",
    log:
        "logs/prompts/prompt_variants.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        key=param(config["train"]["key"]),
        placements=param(config["prompts"]["placements"]),
        weights=param(config["prompts"]["weights"]),
        subjects=param(SUBJECTS),
        subject_weights=param(config["prompts"]["subject_weights"]),
        negative=param(config["prompts"]["negative"]),
        version=stage_version("prompt_variants"),
    script:
        "../scripts/prompt_variants.py"


# The demo's portrait (prompts.portrait: builtin:drawn), drawn by the toy world's code.
rule draw_portrait:
    output:
        DRAWN_PORTRAIT_PATH,
    log:
        "logs/prompts/draw_portrait.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        version=stage_version("draw_portrait"),
    script:
        "../scripts/draw_portrait.py"
