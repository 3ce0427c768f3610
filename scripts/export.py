from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.export import export_checkpoint

    export_checkpoint(
        snakemake.input.base,
        snakemake.input.checkpoint,
        snakemake.output[0],
        precision=snakemake.params.precision,
    )
