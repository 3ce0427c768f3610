"""The code style the project holds itself to: ruff for Python, snakefmt for Snakemake files."""

import subprocess
import sys
from pathlib import Path

from .conftest import REPO

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing():
    for command in (["check", "."], ["format", "--check", "."]):
        result = run(str(BIN / "ruff"), *command)
        assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_files_are_snakefmt_formatted():
    result = run(str(BIN / "snakefmt"), "--check", "Snakefile", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
