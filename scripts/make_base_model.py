from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.base import build_tiny_model

    build_tiny_model(snakemake.output[0], seed=snakemake.params.seed)
