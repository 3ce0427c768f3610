from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.files import write_json
    from stylesweep.interrogate import load_interrogator
    from stylesweep.words import interrogate_stills

    mark_imports_done()

    settings = snakemake.params.interrogator
    interrogator = load_interrogator(
        settings["clip_model"], settings["caption_model"], snakemake.params.cache, device
    )
    stills = interrogate_stills(
        interrogator,
        dataset_dir=snakemake.input.dataset,
        portraits=list(snakemake.input.portraits),
        settings=settings,
    )
    write_json(snakemake.output[0], stills)
