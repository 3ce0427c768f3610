from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.dataset import encode_dataset

    mark_imports_done()

    encode_dataset(snakemake.input.base, snakemake.input.dataset, snakemake.output[0])
