"""A config edit reruns exactly what its meaning touches (tests/rerun_table.py), and the
same meaning written in another key order reruns nothing."""

from __future__ import annotations

import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from stylesweep.config import load_schema
from stylesweep.sources import astronaut_path

from .conftest import REPO, SCHEMA, small_config, snakemake, write_config
from .rerun_table import NAMED_ITEM, RERUNS, markdown

pytestmark = pytest.mark.workflow


def job_counts(output: str) -> dict[str, int]:
    """The dry run's job-stats table as {rule: count}, without the `all` target."""
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:")[1].split("total")[0]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    counts.pop("all", None)
    return counts


def schema_keys(schema: dict, prefix: str = "", root: dict | None = None) -> list[str]:
    """Every settable key of the schema; sweep and extra_runs count as one key each. A map
    of named items (animate.animations) is a key, and so is each key of the tests' item."""
    root = root or schema
    keys = []
    for name, spec in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        item = spec.get("additionalProperties")
        if isinstance(item, dict) and "$ref" in item:
            definition = root["$defs"][item["$ref"].split("/")[-1]]
            keys += [key, *schema_keys(definition, f"{key}.{NAMED_ITEM[key]}.", root)]
        elif spec.get("type") == "object" and name != "sweep":
            keys += schema_keys(spec, key + ".", root)
        else:
            keys.append(key)
    return keys


def nested(key: str, value) -> dict:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def test_the_table_has_one_row_per_schema_key():
    keys = [row[0] for row in RERUNS]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(schema_keys(load_schema(SCHEMA)))


def test_readme_shows_the_table():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- rerun-table -->")[1].split("<!-- /rerun-table -->")[0]
    assert block.strip() == markdown().strip(), "regenerate README's table: " + markdown()


def test_each_edit_reruns_what_its_meaning_touches(finished, tmp_path):
    shutil.copytree(finished / "results" / "demo" / "stills", finished / "mystills",
                    dirs_exist_ok=True)  # fmt: skip
    shutil.copy(astronaut_path(), finished / "portrait.png")
    (finished / "votes.json").write_text('{"votes": []}')

    def dry_run(row):
        key, value, _, _ = row
        if isinstance(value, str):
            value = value.replace("{workdir}", str(finished))
        edit = nested(key, value)
        if key.startswith("animate.animations."):
            # a later config file's animations are the only ones made: name the others too
            for name in small_config()["animate"]["animations"]:
                edit["animate"]["animations"].setdefault(name, {})
        override = tmp_path / f"{key}.yaml"
        override.write_text(yaml.safe_dump(edit))
        result = snakemake(finished, "-n", "--nolock", "--configfile", str(override))
        assert result.returncode == 0, f"{key}: {result.stderr[-1500:]}"
        return key, job_counts(result.stdout)

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        found = dict(pool.map(dry_run, RERUNS))
    wrong = {
        key: {"expected": jobs, "found": found[key]}
        for key, _, jobs, _ in RERUNS
        if found[key] != jobs
    }
    assert not wrong, yaml.safe_dump(wrong, sort_keys=False)
    print(f"{len(RERUNS)} dry runs in {time.perf_counter() - start:.0f} s")


def reorder(value, reverse: bool):
    if isinstance(value, dict):
        keys = sorted(value, reverse=reverse)
        return {key: reorder(value[key], reverse) for key in keys}
    if isinstance(value, list):
        return [reorder(item, reverse) for item in value]
    return value


@pytest.mark.parametrize("reverse", [False, True], ids=["sorted", "reverse-sorted"])
def test_the_same_config_in_another_key_order_reruns_nothing(finished, reverse):
    reordered = reorder(small_config(), reverse)
    (finished / "config.yaml").write_text(yaml.safe_dump(reordered, sort_keys=False))
    try:
        result = snakemake(finished, "-n")
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]
    finally:
        write_config(finished, small_config())
