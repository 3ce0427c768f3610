from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.sources import BUILTIN_SD15_RANDOM, BUILTIN_TOY

    source, out = snakemake.params.source, snakemake.output[0]
    if source == BUILTIN_TOY:  # the shipped weights, checked against their manifest
        from stylesweep.toy.configs import SHIPPED
        from stylesweep.toy.shipped import copy_model

        mark_imports_done()
        copy_model(SHIPPED, out)
    elif snakemake.input:  # a single-file checkpoint, converted with SD 1.5's shipped configs
        from stylesweep.single_file import convert_single_file

        mark_imports_done()
        convert_single_file(snakemake.input[0], out)
    elif source == BUILTIN_SD15_RANDOM:  # SD 1.5's sizes, random weights
        from stylesweep.base import build_sd15_sized_model

        mark_imports_done()
        build_sd15_sized_model(out, seed=snakemake.params.seed)
    else:
        from stylesweep.base import build_tiny_model

        mark_imports_done()
        build_tiny_model(out, seed=snakemake.params.seed)
