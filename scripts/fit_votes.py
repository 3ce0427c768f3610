from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.votes import fit_votes_files

    mark_imports_done()

    fit_votes_files(
        votes_files=snakemake.input.votes,
        sample_manifests=snakemake.input.samples,
        models=snakemake.params.models,
        out_path=snakemake.output[0],
    )
