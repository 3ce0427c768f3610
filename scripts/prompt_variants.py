from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import read_json, write_json
    from stylesweep.prompts import make_variants

    mark_imports_done()

    variants = make_variants(
        [p["prompt"] for p in read_json(snakemake.input[0])["prompts"]],
        key=snakemake.params.key,
        placements=snakemake.params.placements,
        weights=snakemake.params.weights,
        negative=snakemake.params.negative,
        subjects=snakemake.params.subjects,
        subject_weights=snakemake.params.subject_weights,
    )
    write_json(snakemake.output[0], variants)
