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
        report(
            directory("results/report"),
            htmlindex="index.html",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
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
        version=version("report"),
    script:
        "../scripts/report.py"
