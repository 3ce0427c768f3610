from pathlib import Path

from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.demo import write_demo_clip, write_demo_stills

    mark_imports_done()

    write_demo_stills(snakemake.output[0], count=snakemake.params.images)
    # one short clip beside the stills, so that the demo takes frames from a video too
    write_demo_clip(Path(snakemake.output[0]) / "vsynth.mp4")
