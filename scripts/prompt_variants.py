from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import read_json, write_json
    from stylesweep.prompts import make_variants
    from stylesweep.words import words_key

    mark_imports_done()

    # The words control (rule words_variants) puts the stills' style words where the key goes.
    words = "stills" in snakemake.input.keys()  # noqa: SIM118 (a Namedlist)
    key = (
        words_key(read_json(snakemake.input.stills), snakemake.params.words)
        if words
        else snakemake.params.key
    )
    variants = make_variants(
        [p["prompt"] for p in read_json(snakemake.input[0])["prompts"]],
        key=key,
        placements=snakemake.params.placements,
        weights=snakemake.params.weights,
        negative=snakemake.params.negative,
        subjects=snakemake.params.subjects,
        subject_weights=snakemake.params.subject_weights,
    )
    if words:  # the report names the words the control used
        variants = [{**variant, "words": key} for variant in variants]
    write_json(snakemake.output[0], variants)
