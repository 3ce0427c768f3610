from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import read_json
    from stylesweep.summary import flags
    from stylesweep.votes import fit_votes_files

    mark_imports_done()

    summary = {}
    for path in snakemake.input.scores:
        summary |= read_json(path)["models"]
    fit_votes_files(
        votes_files=snakemake.input.votes,
        sample_manifests=snakemake.input.samples,
        models=snakemake.params.models,
        out_path=snakemake.output[0],
        left_out=flags(summary, **snakemake.params.thresholds),
    )
