from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.files import read_json
    from stylesweep.train import TrainSettings, replay_missing_states, train_segment

    mark_imports_done()

    def segment(settings: dict) -> tuple[int, int, TrainSettings]:
        settings = dict(settings)
        start, end = settings.pop("start_step"), settings.pop("end_step")
        return start, end, TrainSettings(**settings)

    start, end, settings = segment(snakemake.params.settings)
    common = dict(
        base_dir=snakemake.input.base,
        base_hash=read_json(snakemake.input.base_hash)["sha256"],
        latents_path=snakemake.input.latents,
        checkpoint_dir=snakemake.output.checkpoint,
        loss_path=snakemake.output.loss,
        run_name=snakemake.wildcards.run,
        device=device,
        class_latents_path=snakemake.input.get("class_latents"),
    )
    earlier = [segment(s) for s in snakemake.params.earlier_segments]
    replay_missing_states(earlier, start, **common)
    train_segment(
        **common,
        settings=settings,
        start_step=start,
        end_step=end,
        keep_resume=snakemake.config["train"]["keep_resume"],
    )
