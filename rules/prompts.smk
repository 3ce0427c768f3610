rule base_prompt:
    input:
        portrait=[] if config["prompts"]["base_prompt"] else portrait_path(),
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
        base_prompt=config["prompts"]["base_prompt"],
        interrogator=config["prompts"]["interrogator"],
        cache="resources/clip-interrogator",
        device=config["device"],
    script:
        "../scripts/base_prompt.py"


rule prompt_variants:
    input:
        "results/prompts/base.txt",
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
