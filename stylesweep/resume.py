"""Resume states: what a training run needs to go on exactly from a checkpoint.

A checkpoint folder holds its weights in `train.save_precision` (fp16 by default, as
AUTOMATIC1111 and kohya save them), which is enough to sample and export but not to train
on bit for bit. The resume state beside it, `resume/step-N.safetensors`, holds the trained
tensors in fp32 and the optimizer's state (and the fp16 loss scaler's), flattened into one
safetensors file: its size follows from the tensor shapes alone (stylesweep.plan counts it
exactly), and reading it runs no pickle.

Only the last state of a run is kept (`train.keep_resume: last`; `all` keeps every one,
`none` removes the last too once the run is done): a segment that finds the state it starts
from gone retrains the steps before it from the latest state there is (stylesweep.train),
which on one machine gives the same bytes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from stylesweep.files import write_safetensors

RESUME_DIR = "resume"
KEEP_RESUME = ("last", "all", "none")
_STEP = re.compile(r"step-([0-9]+)\.safetensors$")


def resume_path(run_dir: str | Path, step: int) -> Path:
    """The resume state of a run's checkpoint at `step`: results/train/<run>/resume/step-N."""
    return Path(run_dir) / RESUME_DIR / f"step-{step}.safetensors"


def saved_steps(run_dir: str | Path) -> list[int]:
    """The steps of a run whose resume state is on disk, in order."""
    folder = Path(run_dir) / RESUME_DIR
    found = (_STEP.search(path.name) for path in folder.glob("step-*.safetensors"))
    return sorted(int(match.group(1)) for match in found if match)


def latest_state(run_dir: str | Path, at_most: int) -> int:
    """The latest step at or before `at_most` with a resume state, or 0 (train from the base)."""
    return max((step for step in saved_steps(run_dir) if step <= at_most), default=0)


def prune_states(
    run_dir: str | Path, keep_step: int, keep: str, finished: bool = False
) -> list[Path]:
    """Remove the run's resume states older than `keep_step` (none with `keep` "all"; with
    "none", also `keep_step`'s own once the run is `finished`)."""
    if keep not in KEEP_RESUME:
        raise ValueError(f"train.keep_resume must be one of {', '.join(KEEP_RESUME)}")
    if keep == "all":
        return []
    last = keep_step + 1 if keep == "none" and finished else keep_step
    removed = [resume_path(run_dir, step) for step in saved_steps(run_dir) if step < last]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def flatten(tree: dict, prefix: str, tensors: dict, rest: dict, seen: set | None = None) -> None:
    """Tensors of a nested dict under dotted names in `tensors`; every other leaf in `rest`.

    A tensor sharing memory with one already taken is copied: safetensors refuses shared
    tensors, and bitsandbytes' states all point at the same quantisation maps.
    """
    seen = set() if seen is None else seen
    for key, value in tree.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flatten(value, name, tensors, rest, seen)
        elif isinstance(value, torch.Tensor):
            value = value.detach().cpu().contiguous()
            pointer = value.untyped_storage().data_ptr()
            tensors[name] = value.clone() if pointer in seen else value
            seen.add(pointer)
        else:
            rest[name] = value


def unflatten(entries: dict, prefix: str) -> dict:
    """The nested dict `flatten` took apart; keys made of digits become ints again (the
    optimizer's parameter indices)."""
    tree: dict = {}
    for name, value in entries.items():
        if not name.startswith(prefix + "."):
            continue
        *parents, leaf = (int(p) if p.isdigit() else p for p in name[len(prefix) + 1 :].split("."))
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def save_state(
    path: str | Path,
    weights: dict[str, torch.Tensor],
    optimizer: dict,
    scaler: dict | None,
) -> Path:
    """Write the fp32 `weights`, the optimizer's state_dict and the scaler's in one file."""
    tensors = {
        f"weights.{name}": value.detach().float().cpu().contiguous()
        for name, value in weights.items()
    }
    rest: dict = {}
    flatten({"state": optimizer["state"]}, "optimizer", tensors, rest)
    metadata = {
        "param_groups": json.dumps(optimizer["param_groups"], sort_keys=True),
        "optimizer_rest": json.dumps(rest, sort_keys=True),
        "scaler": json.dumps(scaler, sort_keys=True),
    }
    return write_safetensors(path, tensors, metadata=metadata)


def load_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict, dict | None]:
    """The weights, optimizer state_dict and scaler state that `save_state` wrote."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (a safe_open, not a dict)
    weights = {
        name[len("weights.") :]: value
        for name, value in tensors.items()
        if name.startswith("weights.")
    }
    entries = {**tensors, **json.loads(metadata["optimizer_rest"])}
    optimizer = {
        "state": unflatten(entries, "optimizer").get("state", {}),
        "param_groups": json.loads(metadata["param_groups"]),
    }
    return weights, optimizer, json.loads(metadata["scaler"])
