from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.files import sha256_tree, write_json

    write_json(snakemake.output[0], {"sha256": sha256_tree(snakemake.input[0])})
