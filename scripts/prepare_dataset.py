from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.dataset import prepare_dataset

    prepare_dataset(
        snakemake.input.stills,
        snakemake.output[0],
        resolution=snakemake.params.resolution,
        crop=snakemake.params.crop,
    )
