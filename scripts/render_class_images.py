from pathlib import Path

from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.device import resolve_device

    # First, before anything starts CUDA: on a machine with several GPUs this claims a
    # free one for the job. The device is a place, not a param.
    device = resolve_device(snakemake.config["device"])

    from stylesweep.files import read_json
    from stylesweep.prior import render_class_images

    mark_imports_done()

    params = snakemake.params
    render_class_images(
        snakemake.input.base,
        read_json(snakemake.input.base_hash)["sha256"],
        Path(snakemake.output.latents).parent,
        prompt=params.prompt,
        count=params.number,
        size=params.size,
        sampler=params.sampler,
        steps=params.steps,
        cfg_scale=params.cfg_scale,
        # batch size and device change only speed and place: read at run time, not params
        batch_size=snakemake.config["sample"]["batch_size"],
        device=device,
    )
