from pathlib import Path

from stylesweep.logs import log_to

with log_to(snakemake.log[0]):
    from stylesweep.base import resolve_device
    from stylesweep.prior import render_class_images

    params = snakemake.params
    render_class_images(
        snakemake.input.base,
        Path(snakemake.output.latents).parent,
        prompt=params.prompt,
        count=params.number,
        size=params.size,
        sampler=params.sampler,
        steps=params.steps,
        cfg_scale=params.cfg_scale,
        batch_size=params.batch_size,
        device=resolve_device(params.device),
    )
