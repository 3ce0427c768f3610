# stylesweep: train a sweep of Stable Diffusion style models and compare them side by side.
# Run:  snakemake --cores 1 --resources gpu=1
# Config: config.yaml (checked by schemas/config.schema.yaml); stages: README.md
from snakemake.utils import min_version

min_version("9.0")

from snakemake.exceptions import WorkflowError

from stylesweep.config import ConfigError, check_yaml

try:  # Snakemake's own message for bad YAML names no file and no line
    check_yaml("config.yaml")
except (ConfigError, FileNotFoundError) as error:
    raise WorkflowError(str(error)) from None


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/dataset.smk"
include: "rules/captions.smk"
include: "rules/base.smk"
include: "rules/train.smk"
include: "rules/prompts.smk"
include: "rules/sample.smk"
include: "rules/score.smk"
include: "rules/validate.smk"
include: "rules/votes.smk"
include: "rules/report.smk"
include: "rules/export.smk"
include: "rules/animate.smk"


export_targets(resolve=False)  # a wrong name stops the workflow before any job


onstart:
    check_disk_plan()


rule all:
    default_target: True
    input:
        PUBLISHED_REPORT,
        export_targets,
