from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.files import read_json, write_json
    from stylesweep.prompts import make_variants

    variants = make_variants(
        [p["prompt"] for p in read_json(snakemake.input[0])["prompts"]],
        key=snakemake.params.key,
        placements=snakemake.params.placements,
        weights=snakemake.params.weights,
        negative=snakemake.params.negative,
    )
    write_json(snakemake.output[0], variants)
