include: "helpers/report.smk"


PUBLISHED_REPORT = "results/report/.published"


rule make_thumbnails:
    input:
        "results/samples/{group}/images.json",
    output:
        "results/thumbnails/{group}/thumbnails.json",
    log:
        "logs/thumbnails/{group}.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        size=param(config["report"]["thumbnail_size"]),
        version=stage_version("make_thumbnails"),
    script:
        "../scripts/make_thumbnails.py"


rule report:
    input:
        **words_files(),
        **report_captions(),
        dataset="results/dataset",
        base_prompt="results/prompts/base.json",
        variants="results/prompts/variants.json",
        samples=sample_manifests(),
        thumbnails=thumbnail_manifests(),
        scores=score_files(),
        validation=validation_files(),
        preferences=preferences_files(),
        losses=[path for paths in loss_files().values() for path in paths],
        animations=animation_files(),
    output:
        # The same page as results/report/, for Snakemake's own --report (its htmlindex
        # needs the folder to be a declared output, which results/report/ cannot be).
        report(
            directory("results/report_draft"),
            htmlindex="index.html",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
    log:
        "logs/report/report.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        models=param(MODEL_LABELS),
        runs=param(report_runs()),
        losses=param(loss_files()),
        title=param(config["report"]["title"]),
        thresholds=param(score_thresholds()),
        sample=param(report_sample_settings()),
        base_model=param(config["base_model"]),
        recommend_by=param(config["report"]["recommend_by"]),
        min_votes=param(config["report"]["min_votes"]),
        compare_seed=param(config["report"]["compare_seed"]),
        version=stage_version("report"),
    script:
        "../scripts/report.py"


# The page reaches results/report/ only once it is complete, swapped in whole by a rename: a
# report that fails, or a job killed while it publishes, leaves the last good one in place.
# Snakemake deletes a job's declared outputs when it starts and when it fails, so the output
# is a marker inside the published folder, not the folder (deleting the folder remakes it).
rule publish_report:
    input:
        "results/report_draft",
    output:
        PUBLISHED_REPORT,
    log:
        "logs/report/publish_report.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        version=stage_version("publish_report"),
    script:
        "../scripts/publish_report.py"
