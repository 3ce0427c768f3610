"""The workflow's files keep their layout: each stage's helpers in rules/helpers/<stage>.smk,
included on the first line of its rule file, and rules/common.smk holding only what two or
more stages (or the Snakefile) use."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import REPO

RULES = REPO / "rules"
DEFINED = re.compile(r"^(?:def (\w+)\(|([A-Z][A-Z0-9_]*) = )", re.MULTILINE)


def stage_texts() -> dict[str, str]:
    """Each stage's rule file and helpers together, and the Snakefile as its own user."""
    texts = {"Snakefile": (REPO / "Snakefile").read_text()}
    for rule_file in sorted(RULES.glob("*.smk")):
        if rule_file.name == "common.smk":
            continue
        helpers = RULES / "helpers" / rule_file.name
        texts[rule_file.stem] = rule_file.read_text() + (
            helpers.read_text() if helpers.exists() else ""
        )
    return texts


def not_shared(common: str, stages: dict[str, str]) -> dict[str, list[str]]:
    """The names common.smk defines that one stage alone uses (and common.smk itself does
    not), with that stage."""
    found = {}
    for match in DEFINED.finditer(common):
        name = match.group(1) or match.group(2)
        word = re.compile(rf"\b{name}\b")
        users = [stage for stage, text in stages.items() if word.search(text)]
        used_in_common = len(word.findall(common)) > 1
        workflow_wide = "Snakefile" in users  # e.g. the disk check before the first job
        if len(users) < 2 and not used_in_common and not workflow_wide:
            found[name] = users
    return found


def test_common_smk_holds_only_what_two_stages_share():
    assert not_shared((RULES / "common.smk").read_text(), stage_texts()) == {}


def test_the_check_finds_a_helper_that_one_stage_alone_uses():
    common = "def param(value):\n    pass\n\n\ndef train_inputs(wildcards):\n    pass\n"
    stages = {"train": "unpack(train_inputs) param(1)", "sample": "param(2)"}
    assert not_shared(common, stages) == {"train_inputs": ["train"]}


def test_each_stage_includes_its_helpers_first_and_helpers_hold_no_rule():
    for helpers in sorted((RULES / "helpers").glob("*.smk")):
        rule_file = RULES / helpers.name
        assert rule_file.exists(), f"{helpers} has no rule file {rule_file}"
        first = rule_file.read_text().splitlines()[0]
        assert first == f'include: "helpers/{helpers.name}"', rule_file
        assert not re.search(r"^(rule|checkpoint) ", helpers.read_text(), re.MULTILINE), helpers


def test_rule_files_define_no_function():
    for path in [REPO / "Snakefile", *sorted(RULES.glob("*.smk"))]:
        if path.name == "common.smk":
            continue  # its shared helpers, and no rule (snakemake --lint holds it to that)
        assert not re.search(r"^def ", path.read_text(), re.MULTILINE), (
            f"{Path(path).relative_to(REPO)}: functions go into rules/helpers/<stage>.smk"
        )
