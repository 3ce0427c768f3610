from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.dataset import encode_dataset

    encode_dataset(snakemake.input.base, snakemake.input.dataset, snakemake.output[0])
