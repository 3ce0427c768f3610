from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from pathlib import Path

    from stylesweep.config import load_schema, train_keys
    from stylesweep.files import read_json
    from stylesweep.sweep import expand_runs
    from stylesweep.train import TrainSettings, replay_missing_states, train_segment

    mark_imports_done()

    def run_max_steps() -> int:
        """The run's last step, from the config rather than a param: a param would make every
        segment of a run retrain when max_steps grows."""
        schema = Path(snakemake.scriptdir).parent / "schemas" / "config.schema.yaml"
        runs = expand_runs(snakemake.config["train"], train_keys(load_schema(schema)))
        return runs[snakemake.wildcards.run]["max_steps"]

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
        captions_path=snakemake.input.get("captions"),
    )
    earlier = [segment(s) for s in snakemake.params.earlier_segments]
    keep_resume = snakemake.config["train"]["keep_resume"]
    finished = keep_resume == "none" and end == run_max_steps()
    replay_missing_states(earlier, start, **common)
    train_segment(
        **common,
        settings=settings,
        start_step=start,
        end_step=end,
        keep_resume=keep_resume,
        run_finished=finished,
    )
