from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.demo import write_demo_stills

    mark_imports_done()

    write_demo_stills(snakemake.output[0], count=snakemake.params.images)
