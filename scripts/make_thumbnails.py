from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from pathlib import Path

    from stylesweep.report import make_thumbnails

    mark_imports_done()

    make_thumbnails(
        snakemake.input[0], Path(snakemake.output[0]).parent, size=snakemake.params.size
    )
