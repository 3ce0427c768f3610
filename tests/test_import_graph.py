"""No import loop goes through a folder of stylesweep, and the toy runtime never needs its lab.

The graph is read from the source with `ast`, without importing anything: every `import` and
`from ... import` (lazy ones inside functions too, relative ones resolved). Each subpackage
folder of stylesweep/ is one node (stylesweep.toy, stylesweep.animate, ...), each top-level
module another (stylesweep.clip_model, stylesweep.files, ...); an edge is an import from one
node into another. A folder is a unit: when it imports a module that imports the folder
back, neither can be understood, moved or tested without the other. A failure names each
import of the loop by file and line, so it says which one to remove.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "stylesweep"
RUNTIME = "stylesweep.toy"  # builtin:toy as the workflow uses it
LAB = "stylesweep.toylab"  # its training and evaluation


@dataclass(frozen=True)
class Import:
    """Where one node imports another: the file (relative to the package's parent) and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


Graph = dict[str, dict[str, list[Import]]]  # node -> the nodes it imports -> every import


def modules(package: Path) -> dict[str, Path]:
    """Every module under `package` by its dotted name (a folder's is its __init__.py)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, module: str, known: set[str]) -> Iterator[tuple[str, int]]:
    """Each module that `path` (module `module`) imports, with the line of the import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                # `from stylesweep import video` imports the module stylesweep.video
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in known else base), node.lineno


def graph_node(module: str, root: str) -> str | None:
    """The node of a module: its folder's when it is in a subpackage; None outside `root`."""
    parts = module.split(".")
    if parts[0] != root:
        return None
    return ".".join(parts[:2])


def import_graph(package: Path = PACKAGE) -> tuple[Graph, set[str]]:
    """The graph of `package`'s imports between nodes, and which nodes are folders."""
    found = modules(package)
    graph: Graph = {}
    for module, path in found.items():
        source = graph_node(module, package.name)
        graph.setdefault(source, {})
        for imported, line in imports(path, module, set(found)):
            target = graph_node(imported, package.name)
            if target is not None and target != source:
                where = Import(path.relative_to(package.parent).as_posix(), line)
                if where not in graph[source].setdefault(target, []):
                    graph[source][target].append(where)
    folders = {graph_node(module, package.name) for module, path in found.items()
               if path.parent != package}  # fmt: skip
    return graph, folders


def path_between(graph: Graph, start: str, end: str) -> list[str] | None:
    """The shortest path of imports from `start` to `end` (a loop when they are the same):
    its nodes, first and last included; None if there is none."""
    before: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph.get(node, {})):
            if target == end:
                path = [node, end]
                while path[0] != start:
                    path.insert(0, before[path[0]])
                return path
            if target not in before and target != start:
                before[target] = node
                queue.append(target)
    return None


def describe(graph: Graph, path: list[str]) -> str:
    """A path of imports, each step with the files and lines that make it."""
    steps = [
        f"  {a} -> {b} ({', '.join(map(str, sorted(graph[a][b], key=astuple)))})"
        for a, b in zip(path, path[1:], strict=False)
    ]
    return "\n".join([" -> ".join(path), *steps])


def folder_loops(graph: Graph, folders: set[str]) -> list[str]:
    """The import loops through each folder, described: for each node the folder imports,
    the shortest way back from it to the folder, if there is one."""
    loops = []
    for folder in sorted(folders):
        for first in sorted(graph.get(folder, {})):
            if (back := path_between(graph, first, folder)) is not None:
                loops.append(describe(graph, [folder, *back]))
    return loops


def test_no_import_loop_goes_through_a_folder():
    loops = "\n".join(folder_loops(*import_graph()))
    assert not loops, f"import loops through a folder (remove one step's imports):\n{loops}"


def test_the_toy_runtime_imports_nothing_of_its_lab():
    graph, folders = import_graph()
    assert {RUNTIME, LAB} <= folders
    path = path_between(graph, RUNTIME, LAB)
    assert path is None, f"the runtime reaches the lab:\n{describe(graph, path)}"


def test_a_loop_through_a_folder_is_found_with_its_imports(tmp_path):
    """The layout before the lab moved out: the toy folder's interrogator imported
    clip_model (lazily and relatively here), which imports the toy folder back."""
    package = tmp_path / "stylesweep"
    files = {
        "__init__.py": "from stylesweep import files\n",
        "files.py": "import json\n",
        "clip_model.py": "def toy_clip():\n    from stylesweep.toy.shipped import checked\n",
        "interrogate.py": "from stylesweep import clip_model, toy\n",
        "toy/__init__.py": "",
        "toy/shipped.py": "from stylesweep.files import sha256_file\nfrom . import world\n",
        "toy/world.py": "import numpy\n",
        "toy/interrogator.py": (
            "import torch\n\n\ndef load():\n    from ..clip_model import toy_clip\n"
        ),
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)

    graph, folders = import_graph(package)
    assert folders == {"stylesweep.toy"}
    assert graph["stylesweep.toy"] == {
        "stylesweep.files": [Import("stylesweep/toy/shipped.py", 1)],
        "stylesweep.clip_model": [Import("stylesweep/toy/interrogator.py", 5)],
    }
    assert graph["stylesweep.interrogate"].keys() == {"stylesweep.clip_model", "stylesweep.toy"}
    assert folder_loops(graph, folders) == [
        "stylesweep.toy -> stylesweep.clip_model -> stylesweep.toy\n"
        "  stylesweep.toy -> stylesweep.clip_model (stylesweep/toy/interrogator.py:5)\n"
        "  stylesweep.clip_model -> stylesweep.toy (stylesweep/clip_model.py:2)"
    ]

    (package / "toy" / "interrogator.py").write_text("import torch\n")
    assert folder_loops(*import_graph(package)) == []
