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
        texts=base_prompt_texts(),
        interrogator=config["prompts"]["interrogator"],
        cache="resources/clip-interrogator",
        device=config["device"],
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
        key=config["train"]["key"],
        placements=config["prompts"]["placements"],
        weights=config["prompts"]["weights"],
        negative=config["prompts"]["negative"],
    script:
        "../scripts/prompt_variants.py"
