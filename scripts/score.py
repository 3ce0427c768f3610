from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.files import read_json
    from stylesweep.score import score_group

    mark_imports_done()

    score_group(
        samples_manifest=snakemake.input.samples,
        base_manifest=snakemake.input.base,
        dataset_dir=snakemake.input.dataset,
        variants=read_json(snakemake.input.variants),
        clip_model=snakemake.params.clip_model,
        style_model=snakemake.params.style_model,
        structure_model=snakemake.params.structure_model,
        out_path=snakemake.output.scores,
        embeddings_path=snakemake.output.embeddings,
        base_embeddings=getattr(snakemake.input, "base_embeddings", None),
        device=device,
    )
