from pathlib import Path

from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import publish_tree

    mark_imports_done()

    marker = Path(snakemake.output[0])  # results/report/.published
    publish_tree(snakemake.input[0], marker.parent, marker=marker.name)
