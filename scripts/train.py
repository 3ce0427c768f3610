from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.files import read_json
    from stylesweep.train import TrainSettings, train_segment

    mark_imports_done()

    settings = dict(snakemake.params.settings)
    start, end = settings.pop("start_step"), settings.pop("end_step")
    train_segment(
        base_dir=snakemake.input.base,
        base_hash=read_json(snakemake.input.base_hash)["sha256"],
        latents_path=snakemake.input.latents,
        settings=TrainSettings(**settings),
        start_step=start,
        end_step=end,
        previous_checkpoint=snakemake.input.get("checkpoint"),
        previous_state=snakemake.input.get("state"),
        checkpoint_dir=snakemake.output.checkpoint,
        state_path=snakemake.output.state,
        loss_path=snakemake.output.loss,
        run_name=snakemake.wildcards.run,
        device=device,
        class_latents_path=snakemake.input.get("class_latents"),
    )
