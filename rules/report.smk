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
        dataset="results/dataset",
        base_prompt="results/prompts/base.json",
        variants="results/prompts/variants.json",
        samples=sample_manifests(),
        thumbnails=thumbnail_manifests(),
        scores=score_files(),
        losses=[path for paths in loss_files().values() for path in paths],
        animations=animation_files(),
    output:
        directory("results/report_draft"),
    log:
        "logs/report/report.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        models=param(MODELS),
        runs=param(report_runs()),
        losses=param(loss_files()),
        title=param(config["report"]["title"]),
        sample=param(report_sample_settings()),
        base_model=param(config["base_model"]),
        version=stage_version("report"),
    script:
        "../scripts/report.py"


# The page reaches results/report/ only once it is complete: a report that fails leaves the
# last good one in place (Snakemake deletes a job's outputs when it starts and when it fails).
rule publish_report:
    input:
        "results/report_draft",
    output:
        report(
            directory("results/report"),
            htmlindex="index.html",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
    log:
        "logs/report/publish_report.log",
    conda:
        "../envs/stylesweep.yaml"
    params:
        version=stage_version("publish_report"),
    script:
        "../scripts/publish_report.py"
