rule report:
    input:
        dataset="results/dataset",
        base_prompt="results/prompts/base.json",
        variants="results/prompts/variants.json",
        samples=sample_manifests(),
        scores=score_files(),
        losses=[path for paths in loss_files().values() for path in paths],
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
        models=MODELS,
        losses=loss_files(),
        config=config,
        title=config["report"]["title"],
    script:
        "../scripts/report.py"
