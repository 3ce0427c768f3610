from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.export import export_checkpoint

    mark_imports_done()

    export_checkpoint(
        snakemake.input.base,
        snakemake.input.checkpoint,
        snakemake.output[0],
        precision=snakemake.params.precision,
    )
