from pathlib import Path

from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.files import write_json
    from stylesweep.prompts import make_variants

    variants = make_variants(
        Path(snakemake.input[0]).read_text(encoding="utf-8").strip(),
        key=snakemake.params.key,
        placements=snakemake.params.placements,
        weights=snakemake.params.weights,
        negative=snakemake.params.negative,
    )
    write_json(snakemake.output[0], variants)
