from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.demo import write_demo_soundtrack

    mark_imports_done()

    write_demo_soundtrack(snakemake.output[0])
