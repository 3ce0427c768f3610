from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.captions import caption_dataset

    mark_imports_done()

    caption_dataset(
        snakemake.input.dataset,
        caption_model=snakemake.params.caption_model,
        template=snakemake.params.template,
        key=snakemake.params.key,
        cache_dir=snakemake.params.cache,
        manifest_path=snakemake.output.captions,
        sidecar_dir=snakemake.output.sidecars,
        device=device,
    )
