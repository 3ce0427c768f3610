from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.base import resolve_device
    from stylesweep.files import write_json, write_text
    from stylesweep.interrogate import make_base_prompt

    result = make_base_prompt(
        text=snakemake.params.base_prompt,
        portrait=snakemake.input.portrait or None,
        settings=snakemake.params.interrogator,
        cache_dir=snakemake.params.cache,
        device=resolve_device(snakemake.params.device),
    )
    write_json(snakemake.output.details, result)
    write_text(snakemake.output.text, result["prompt"] + "\n")
