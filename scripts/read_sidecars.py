from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.captions import read_dataset_sidecars

    mark_imports_done()

    read_dataset_sidecars(
        snakemake.input.dataset,
        stills_dir=snakemake.params.stills["folder"],
        manifest_path=snakemake.output[0],
    )
