# stylesweep: train a sweep of Stable Diffusion style models and compare them side by side.
# Run:  snakemake --cores 1 --resources gpu=1      (config: config.yaml; map: ../DESIGN.md)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/dataset.smk"
include: "rules/base.smk"
include: "rules/train.smk"
include: "rules/prompts.smk"
include: "rules/sample.smk"
include: "rules/score.smk"
include: "rules/report.smk"
include: "rules/export.smk"


rule all:
    default_target: True
    input:
        "results/report",
        export_targets(),
