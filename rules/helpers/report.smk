# The report (rules/report.smk): the files and settings each section shows.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.settings import SampleSettings
from stylesweep.sweep import segment_settings


def preferences_files():
    """The fitted votes, for the report: none without votes."""
    return [PREFERENCES] if votes_files() else []


def loss_files():
    return {
        run: [
            f"results/train/{run}/loss/step-{step}.csv"
            for step in checkpoint_steps(settings)
        ]
        for run, settings in RUNS.items()
    }


def animation_files():
    """Each animation's video and settings, in config order, for the report."""
    return [
        f"results/animate/{name}/{file}"
        for name in config["animate"]["animations"]
        for file in ("animation.mp4", "settings.json")
    ]


def thumbnail_manifests():
    return [f"results/thumbnails/{group}/thumbnails.json" for group in SAMPLE_GROUPS]


def report_sample_settings():
    """The sampler settings behind the report's pictures (not the batch size: speed only)."""
    return SampleSettings.from_config(config["sample"]).as_param()


def report_runs():
    """Each run as the report shows it: the settings its training saw (all its segments as
    one) and its checkpoint steps, so that an edit no training sees (a LoRA rank with no
    LoRA run, say) leaves the report alone. A list of (run, settings) pairs: the runs keep
    the sweep's order, which param() would sort as dict keys."""
    shown = []
    for run, settings in RUNS.items():
        steps = checkpoint_steps(settings)
        seen = segment_settings(settings, 0, steps[-1])
        del seen["start_step"], seen["end_step"]
        seen.update(
            max_steps=settings["max_steps"],
            checkpoint_every=settings["checkpoint_every"],
        )
        shown.append([run, seen])
    return shown


def report_captions():
    """The auto captions, which the report shows with the dataset, when a run uses them."""
    return {"captions": AUTO_CAPTIONS} if USES_AUTO_CAPTIONS else {}


def words_files():
    """The stills' interrogation and the words control's prompts, for the report."""
    if "words" not in CONTROLS:
        return {}
    return {"stills": "results/prompts/stills.json", "words": WORDS_VARIANTS}


def validation_files():
    """The validation losses, for the report: none when no still is held out."""
    if config["dataset"]["validation_count"] == 0:
        return []
    return ["results/validation/losses.json"]
