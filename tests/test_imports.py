"""Each job imports only what it uses: a stage module that starts importing a heavy package
it does not need fails here (checked in a fresh interpreter, as a job starts).

What diffusers' own models import once installed (peft, bitsandbytes, torchvision through
transformers) is outside our reach: diffusers 0.42 imports them in every process that
loads a UNet. python bench/bench_imports.py shows the times.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ML = {"torch", "diffusers", "transformers", "peft", "open_clip", "clip_interrogator"}
RENDERING_EXTRAS = {"open_clip", "clip_interrogator", "skimage", "matplotlib"}
# module: packages it must not import (and the jobs that import the module)
FORBIDDEN = {
    "stylesweep.sources": ML | {"numpy", "PIL", "yaml"},  # the Snakefile, every call
    "stylesweep.sweep": ML | {"numpy", "PIL", "yaml"},
    "stylesweep.stages": ML | {"numpy", "PIL", "yaml"},
    "stylesweep.keys": ML | {"numpy", "PIL", "yaml"},
    "stylesweep.config": ML | {"numpy", "PIL"},
    "stylesweep.device": ML | {"numpy", "PIL"},  # scripts, for the device's name
    "stylesweep.dataset": ML,  # prepare_dataset
    "stylesweep.demo": ML,  # make_demo_stills
    "stylesweep.prompts": ML | {"numpy", "PIL"},  # prompt_variants
    "stylesweep.report": ML | {"matplotlib", "skimage"},  # report, make_thumbnails
    "stylesweep.charts": ML | {"matplotlib"},  # matplotlib only when a chart is drawn
    "stylesweep.summary": ML | {"PIL"},
    "stylesweep.train": RENDERING_EXTRAS,  # train
    "stylesweep.sample": RENDERING_EXTRAS,  # sample
    "stylesweep.prior": RENDERING_EXTRAS,  # render_class_images
    "stylesweep.export": RENDERING_EXTRAS,  # export
    "stylesweep.score": {"diffusers", "peft", "clip_interrogator", "matplotlib"},  # score
    "stylesweep.interrogate": {"diffusers", "peft", "matplotlib", "skimage"},  # base_prompt
}


def imported_by(module: str) -> set[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_a_stage_module_imports_nothing_heavy_it_does_not_need(module):
    assert not imported_by(module) & FORBIDDEN[module]
