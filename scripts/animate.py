from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: claims a free GPU on a machine with several.
    device = resolve_device(snakemake.config["device"])

    from pathlib import Path

    from stylesweep.animate.render import render_animation
    from stylesweep.files import read_json

    mark_imports_done()

    render_animation(
        name=snakemake.wildcards.animation,
        settings=snakemake.params.animation,
        models=snakemake.params.models,
        base_dir=snakemake.input.base,
        base_hash=read_json(snakemake.input.base_hash)["sha256"],
        text=snakemake.params.text,
        out_dir=Path(snakemake.output.video).parent,
        init_image=snakemake.input.get("init_image"),
        video=snakemake.params.media.get("video"),
        soundtrack=snakemake.params.media.get("soundtrack"),
        version=snakemake.params.version,
        device=device,
    )
