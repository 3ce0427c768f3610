# Sampling (rules/sample.smk): each sample job's inputs and settings, and the images
# gone since it ran.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
import os
from dataclasses import replace

from stylesweep.settings import SampleSettings


def sample_settings(wildcards):
    """The job's SampleSettings as its param; the controls have no strength (so adding a
    strength leaves their jobs alone)."""
    settings = SampleSettings.from_config(config["sample"])
    if wildcards.group in CONTROLS:
        settings = replace(settings, strengths=[])
    return canonical(settings.as_param())


def sample_inputs(wildcards):
    models = group_models(wildcards.group)
    mark_stale_samples(wildcards.group, models)
    return {
        "base": base_model_dir(),
        "base_hash": BASE_HASH,
        "variants": (
            WORDS_VARIANTS
            if wildcards.group == "words"
            else "results/prompts/variants.json"
        ),
        "checkpoints": [folder for folder in models.values() if folder],
    }


def mark_stale_samples(group, models):
    """A sample job whose images, or a checkpoint they came from, are gone since (deleted by
    hand, say) must run again.

    Its manifest is dated back to 1970, so Snakemake's mtime trigger reruns the job, which
    renders just the missing images (the others are reused). A param could not do it: the
    params a job ran with are recorded, and would differ again once the files are back. A
    missing checkpoint needs this too: Snakemake (since 7.7) does not remake a missing file
    while what was made from it is up to date; the rerun sample job needs it, so it is
    trained again, with the later checkpoints of its run (they resume from it). Only a
    checkpoint the manifest names counts: one that a longer run adds is simply new.
    """
    manifest = Path(f"results/samples/{group}/images.json")
    if not manifest.is_file() or manifest.stat().st_mtime <= 0:
        return
    try:
        images = json.loads(manifest.read_text())["images"]
    except (ValueError, KeyError):
        images = [{"file": "(an unreadable images.json)"}]
    missing = [i["file"] for i in images if not (manifest.parent / i["file"]).is_file()]
    sampled = {image.get("checkpoint", image.get("model")) for image in images}
    gone = [folder for name, folder in models.items()
            if folder and name in sampled and not Path(folder).is_dir()]  # fmt: skip
    if gone:
        reason = f"checkpoint {gone[0]} is gone; it will be trained again"
    elif missing:
        reason = (
            f"{manifest} lists {len(missing)} images that are gone ({missing[0]}, ...); "
            "they will be rendered again"
        )
    else:
        return
    print(f"stylesweep: {reason}", file=sys.stderr)
    os.utime(manifest, (0, 0))
