from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import read_json, write_json
    from stylesweep.prompts import make_variants
    from stylesweep.settings import PromptSettings
    from stylesweep.words import words_variants

    mark_imports_done()

    base_prompts = [p["prompt"] for p in read_json(snakemake.input[0])["prompts"]]
    settings = PromptSettings(**snakemake.params.settings)
    if "stills" in snakemake.input.keys():  # noqa: SIM118 (a Namedlist: `in` reads values)
        # rule words_variants: the stills' style words where the key goes
        stills = read_json(snakemake.input.stills)
        variants = words_variants(stills, snakemake.params.words, base_prompts, settings)
    else:
        variants = make_variants(base_prompts, snakemake.params.key, settings)
    write_json(snakemake.output[0], variants)
