# The base model (rules/base.smk): the file it is made from.
# Functions only: `snakemake --lint` refuses functions and rules in one file.
from stylesweep.sources import BUILTIN_TOY, is_single_file
from stylesweep.toy.configs import SHIPPED as TOY_WEIGHTS


def base_model_file():
    """The file the base model is made from: a single-file checkpoint, or the manifest of the
    shipped builtin:toy weights (so that new shipped weights remake the model)."""
    base = config["base_model"]
    if base == BUILTIN_TOY:
        return [str(TOY_WEIGHTS / "manifest.json")]
    return [input_path("base_model", base)] if is_single_file(base) else []
