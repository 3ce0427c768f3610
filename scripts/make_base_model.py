from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.base import build_tiny_model
    from stylesweep.single_file import convert_single_file

    mark_imports_done()

    if snakemake.input:  # a single-file checkpoint, converted with SD 1.5's shipped configs
        convert_single_file(snakemake.input[0], snakemake.output[0])
    else:
        build_tiny_model(snakemake.output[0], seed=snakemake.params.seed)
