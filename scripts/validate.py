from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.files import read_json
    from stylesweep.validation import validate_models

    mark_imports_done()

    validate_models(
        models=snakemake.params.models,
        base_dir=snakemake.input.base,
        base_hash=read_json(snakemake.input.base_hash)["sha256"],
        latents_path=snakemake.input.latents,
        prompt=snakemake.params.prompt,
        out_path=snakemake.output[0],
        device=device,
    )
