from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import sha256_tree, write_json

    mark_imports_done()

    write_json(snakemake.output[0], {"sha256": sha256_tree(snakemake.input[0])})
