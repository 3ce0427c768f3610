from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.files import read_json
    from stylesweep.sample import sample_models
    from stylesweep.settings import SampleSettings

    mark_imports_done()

    sample_models(
        models=snakemake.params.models,
        base_dir=snakemake.input.base,
        base_hash=read_json(snakemake.input.base_hash)["sha256"],
        variants=read_json(snakemake.input.variants),
        settings=SampleSettings(**snakemake.params.settings),
        # batch size and device change only speed and place: read at run time, not params
        batch_size=snakemake.config["sample"]["batch_size"],
        manifest_path=snakemake.output[0],
        device=device,
    )
