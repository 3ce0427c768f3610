include: "helpers/captions.smk"


# Captions of the stills' content (train.captions: auto or sidecar), apart from the
# dataset: editing a caption retrains only the runs that read captions, nothing else.
# captions_file and the caption paths are in common.smk (the train rule reads them too).


rule caption_stills:
    input:
        dataset="results/dataset",
    output:
        captions=AUTO_CAPTIONS,
        sidecars=directory("results/captions/auto"),
    log:
        "logs/captions/caption_stills.log",
    conda:
        "../envs/stylesweep.yaml"
    resources:
        gpu=1,
    params:
        caption_model=param(config["prompts"]["interrogator"]["caption_model"]),
        template=param(config["train"]["caption_template"]),
        key=param(config["train"]["key"]),
        cache="resources/clip-interrogator",
        version=stage_version("caption_stills"),
    script:
        "../scripts/caption_stills.py"


rule read_sidecars:
    input:
        dataset="results/dataset",
    output:
        SIDECAR_CAPTIONS,
    log:
        "logs/captions/read_sidecars.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        stills=param(sidecar_stills()),
        version=stage_version("read_sidecars"),
    script:
        "../scripts/read_sidecars.py"
