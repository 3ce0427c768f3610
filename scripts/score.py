from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.base import resolve_device
    from stylesweep.files import read_json
    from stylesweep.score import score_group

    score_group(
        samples_manifest=snakemake.input.samples,
        base_manifest=snakemake.input.base,
        dataset_dir=snakemake.input.dataset,
        variants=read_json(snakemake.input.variants),
        clip_model=snakemake.params.clip_model,
        out_path=snakemake.output[0],
        device=resolve_device(snakemake.config["device"]),  # a place, not a param
    )
