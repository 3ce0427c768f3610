from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.dataset import prepare_dataset

    mark_imports_done()

    prepare_dataset(
        snakemake.input.stills,
        snakemake.output[0],
        resolution=snakemake.params.resolution,
        crop=snakemake.params.crop,
        video=snakemake.params.video,  # None when the stills hold no video
        validation_count=snakemake.params.validation_count,
    )
