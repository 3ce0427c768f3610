from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import publish_tree

    mark_imports_done()

    publish_tree(snakemake.input[0], snakemake.output[0])
