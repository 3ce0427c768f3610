# Captions of the stills' content (train.captions: auto or sidecar), apart from the
# dataset: editing a caption retrains only the runs that read captions, nothing else.
from stylesweep.captions import CaptionError, check_template, sidecars_fingerprint

AUTO_CAPTIONS = "results/captions/auto.json"
SIDECAR_CAPTIONS = "results/captions/sidecar.json"


def captions_file(run_settings):
    """The training captions a run reads: auto or sidecar; None for the others."""
    if run_settings["method"] == "textual_inversion":
        return None  # it captions with its own templates
    return {"auto": AUTO_CAPTIONS, "sidecar": SIDECAR_CAPTIONS}.get(
        run_settings["captions"]
    )


def sidecar_stills():
    """The folder whose sidecars `captions: sidecar` reads, and a hash of their text."""
    stills = config["dataset"]["stills"]
    folder = "results/demo/stills" if stills == BUILTIN_STILLS else stills
    return {"folder": folder, "texts": sidecars_fingerprint(folder)}


try:  # an empty template, or one without {key}, would train a key that learns nothing
    check_template(config["train"]["caption_template"])
except CaptionError as error:
    raise WorkflowError(str(error)) from None
USES_AUTO_CAPTIONS = any(captions_file(run) == AUTO_CAPTIONS for run in RUNS.values())
if USES_AUTO_CAPTIONS and config["prompts"]["interrogator"]["caption_model"] is None:
    raise WorkflowError(
        "train.captions: auto captions the stills with prompts.interrogator.caption_model, "
        "which is null; name a caption model (blip-large for SD 1.5) or use another "
        "train.captions"
    )


def report_captions():
    """The auto captions, which the report shows with the dataset, when a run uses them."""
    return {"captions": AUTO_CAPTIONS} if USES_AUTO_CAPTIONS else {}


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
