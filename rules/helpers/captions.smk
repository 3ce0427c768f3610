# Captions of the stills (rules/captions.smk): the sidecars' fingerprint, and the checks
# that stop a run before any job. captions_file and the caption paths are in common.smk
# (the train rule reads them too).
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.captions import CaptionError, check_template, sidecars_fingerprint


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
