"""Config validation: one clear line per mistake, then the schema's defaults filled in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


class ConfigError(ValueError):
    """A config.yaml mistake, named by its key."""


def check_yaml(path: str | Path) -> None:
    """Raise ConfigError naming the file, line and column of a YAML syntax error.

    Snakemake's own message ("Config file is not valid JSON or YAML") names neither.
    """
    try:
        yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}{where}: {problem}; fix the YAML there") from None


def load_schema(schema_file: str | Path) -> dict:
    return yaml.safe_load(Path(schema_file).read_text())


def section_defaults(schema: dict, section: str) -> dict:
    """The schema's default of every key of one config section, for code run without a
    config (tests, benchmarks)."""
    properties = schema["properties"][section]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def train_keys(schema: dict) -> list[str]:
    """The train settings in the schema's order: the order of run names and settings."""
    return list(schema["properties"]["train"]["properties"])


def canonical(value: Any) -> Any:
    """`value` with every dict's keys sorted, so that the same meaning has the same repr.

    Snakemake compares params by repr to decide reruns; a dict keeps the order its keys
    were written in, so two configs that differ only in key order would look different.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


# A number in exponent form that YAML 1.1 (PyYAML) reads as text: it wants a dot in the
# mantissa and a sign in the exponent, as in 1.0e-4.
_TEXT_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def number_hint(value: Any, integer: bool = False) -> str:
    """For a string such as '1e-4' that PyYAML read as text: how to write it as a number
    (as digits where the key wants an integer)."""
    if not isinstance(value, str) or not _TEXT_EXPONENT.fullmatch(value.strip()):
        return ""
    text = value.strip()
    if integer and float(text).is_integer():
        return f"; YAML reads {value} as text: write it as digits, {int(float(text))}"
    mantissa, _, exponent = text.lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[0] not in "+-":
        exponent = "+" + exponent
    written = f"{mantissa}e{exponent}"
    if written == text.lower():
        return "; it is in quotes, so YAML reads it as text: remove the quotes"
    return (
        f"; YAML reads {value} as text (PyYAML needs a dot and a signed exponent): write {written}"
    )


def check_config(config: dict, schema_file: str | Path) -> None:
    """Raise ConfigError naming the first offending key (jsonschema's best match)."""
    schema = load_schema(schema_file)
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        key = ".".join(filter(None, [".".join(str(p) for p in error.absolute_path), unknown[0]]))
        raise ConfigError(
            f"config key '{key}' is unknown; known keys here: {', '.join(known)} "
            "(see the comments in config.yaml)"
        )
    integer = error.validator == "type" and "integer" in error.validator_value
    hint = number_hint(error.instance, integer)
    raise ConfigError(f"config key '{where}': {error.message}{hint}")


def merge(config: dict, overrides: dict) -> dict:
    """`overrides` merged into `config` key by key, as Snakemake merges --configfile files."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merge(config[key], value)
        else:
            config[key] = value
    return config


def replace_explicit(config: dict, files: list[tuple[str, dict]]) -> str | None:
    """Apply what later config files (name, content) give explicitly; return the name of
    the file whose sweep is used, or None (config.yaml's).

    A sweep or a subject suite given there replaces the inherited one whole, and animations
    given there are the only ones made (each merged with config.yaml's of the same name).
    Snakemake merges config files key by key, so a user's `sweep: {}` would otherwise keep
    the demo's sweep from config.yaml, `subjects: {}` the demo's subjects, and
    `animations: {}` the demo's animation.
    """
    source = None
    for section, key in (("train", "sweep"), ("animate", "animations"), ("prompts", "subjects")):
        found = None
        for name, part in files:
            values = part.get(section) if isinstance(part, dict) else None
            if isinstance(values, dict) and key in values:
                found, given_by = values[key] or {}, name
        if found is None:
            continue
        if key == "sweep":
            config.setdefault(section, {})[key], source = found, given_by
        elif key == "subjects":
            config.setdefault(section, {})[key] = found
        else:
            merged = config.setdefault(section, {}).get(key) or {}
            config[section][key] = {name: merged.get(name, {}) for name in found}
    return source


def workflow_config(
    root: str | Path, configfiles: list[str | Path] = (), schema: str | Path | None = None
) -> dict:
    """The config a `snakemake [--configfile FILE ...]` run in `root` works with: config.yaml,
    the files merged over it, checked against `schema` (the project's, in `root`, unless
    given), with its defaults filled in."""
    from snakemake.utils import validate

    from stylesweep.keys import check_train_key

    root = Path(root)
    paths = [root / "config.yaml", *map(Path, configfiles)]
    for path in paths:
        check_yaml(path)
    files = [yaml.safe_load(path.read_text(encoding="utf-8")) or {} for path in paths]
    config: dict = {}
    for part in files:
        merge(config, part)
    replace_explicit(config, list(zip(map(str, paths[1:]), files[1:], strict=True)))
    schema = Path(schema or root / "schemas" / "config.schema.yaml")
    check_train_key(config)
    check_config(config, schema)
    validate(config, str(schema), set_default=True)
    return config


if __name__ == "__main__":  # python -m stylesweep.config my-config.yaml: check its YAML
    import sys

    for name in sys.argv[1:]:
        try:
            check_yaml(name)
        except ConfigError as error:
            sys.exit(str(error))
        print(f"{name}: valid YAML")
