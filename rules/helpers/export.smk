# Export (rules/export.smk): the checkpoints chosen, and the number format of a single file.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.sweep import model_names

MODELS = model_names(RUNS)  # every checkpoint of the sweep, after `base`


def export_precision(wildcards):
    """Only a DreamBooth export is a single file whose number format is chosen."""
    if RUNS[wildcards.run]["method"] != "dreambooth":
        return None
    return config["export"]["precision"]


def export_targets(wildcards=None, resolve=True):
    """The export folders of the checkpoints chosen in export.checkpoints (an input
    function: `preferred` is known once the votes are fitted). With resolve=False, only
    checks the names, when the workflow reads the config."""
    chosen = []
    for item in config["export"]["checkpoints"]:
        if item == "preferred":
            if resolve:
                chosen.append(preferred_checkpoint("export.checkpoints"))
            else:
                check_preferred("export.checkpoints")
            continue
        if item == "last":  # the last step of every run
            chosen += [
                model_name(run, checkpoint_steps(settings)[-1])
                for run, settings in RUNS.items()
            ]
            continue
        if item not in MODELS or item == "base":
            raise WorkflowError(
                f"config key 'export.checkpoints': no checkpoint {item} "
                f"(checkpoints: {', '.join(MODELS[1:])})"
            )
        chosen.append(item)
    return [f"results/export/{model}" for model in dict.fromkeys(chosen)]
