from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.demo import write_demo_stills

    write_demo_stills(snakemake.output[0], count=snakemake.params.images)
