include: "helpers/prompts.smk"


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
        settings=param(prompt_settings(config["prompts"], SUBJECTS).as_param()),
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


# Words first, as the blog began (prompts.words_baseline): what CLIP Interrogator says
# about the stills, and the control model `words` that renders their style words in place
# of the key.
rule interrogate_stills:
    input:
        dataset="results/dataset",
        portraits=reference_portraits(),
    output:
        "results/prompts/stills.json",
    log:
        "logs/prompts/interrogate_stills.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        interrogator=param(interrogation_settings()),
        cache="resources/clip-interrogator",
        version=stage_version("interrogate_stills"),
    script:
        "../scripts/interrogate_stills.py"


rule words_variants:
    input:
        base="results/prompts/base.json",
        stills="results/prompts/stills.json",
    output:
        WORDS_VARIANTS,
    log:
        "logs/prompts/words_variants.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        words=param(config["prompts"]["words_baseline"]),
        settings=param(prompt_settings(config["prompts"], SUBJECTS).as_param()),
        version=stage_version("words_variants"),
    script:
        "../scripts/prompt_variants.py"
