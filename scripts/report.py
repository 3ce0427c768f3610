from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.report import build_report

    mark_imports_done()

    build_report(
        out_dir=snakemake.output[0],
        dataset_dir=snakemake.input.dataset,
        base_prompt_file=snakemake.input.base_prompt,
        variants_file=snakemake.input.variants,
        models=snakemake.params.models,
        runs=dict(snakemake.params.runs),  # (run, settings) pairs in the sweep's order
        sample_manifests=snakemake.input.samples,
        thumbnails=snakemake.input.thumbnails,
        score_files=snakemake.input.scores,
        validation_files=snakemake.input.validation,
        loss_files=snakemake.params.losses,
        animations=snakemake.input.animations,
        sample=snakemake.params.sample,
        base_model=snakemake.params.base_model,
        title=snakemake.params.title,
        thresholds=snakemake.params.thresholds,
        preferences_file=snakemake.input.preferences[0] if snakemake.input.preferences else None,
        recommend_by=snakemake.params.recommend_by,
        min_votes=snakemake.params.min_votes,
        compare_seed=snakemake.params.compare_seed,
        stills_file=snakemake.input.get("stills"),
        words_file=snakemake.input.get("words"),
        captions_file=snakemake.input.get("captions"),
    )
