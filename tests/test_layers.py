"""The package's modules form layers, and every import between them points down.

A module imports only from its own layer or lower ones, at the top of the
module: no cycle, and no function-local import of a sibling module (those
are left to the optional third-party packages: safetensors, onnx, skl2onnx,
matplotlib). Each module imports on its own in a fresh interpreter.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Read from the source tree, not imported: these tests must report an
# import cycle, not fail on it.
PACKAGE_DIR = Path(__file__).resolve().parents[1] / "sklearn_ae"

#: Module (relative to ``sklearn_ae``; a subpackage by its name) -> layer.
LAYERS = {
    # L0: numerics and plumbing, no estimator, no training.
    "_sklearn_compat": 0,
    "_version": 0,
    "_device": 0,
    "_losses": 0,
    "_observation": 0,
    "_covariance": 0,
    "_scaling": 0,
    "_linear": 0,
    "_noise_floor": 0,
    "_contrast": 0,
    # L1: torch machinery: networks, batch sources, the loop and its stopping rule.
    "_modules": 1,
    "_row_invariant": 1,
    "_data": 1,
    "_stopping": 1,
    "_reductions": 1,
    "_distributed": 1,
    "_fused_adam": 1,
    "_training": 1,
    # L2: the model-file codec and the ONNX graph, reading estimators by duck typing.
    "_state": 2,
    "_persistence": 2,
    "_export": 2,
    # L3: the scikit-learn contract shared by both estimators, its checks beyond the
    # parameter constraints, and batched inference.
    "_validation": 3,
    "_inference": 3,
    "_fitting": 3,
    "_base": 3,
    # L4: the estimators.
    "_autoencoder": 4,
    "_vae": 4,
    # L5: the public surface (the estimators, load, the networks and losses of nn)
    # and the command line.
    "__init__": 5,
    "__main__": 5,
    "_cli": 5,
    "nn": 5,
}


def _module_names():
    """Every module of the package, as ``"_base"``, ``"_cli._report"``, ``"__init__"``."""
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        names.append(".".join(parts))
    return names


def _path(name):
    parts = name.split(".")
    candidate = PACKAGE_DIR.joinpath(*parts).with_suffix(".py")
    return candidate if candidate.exists() else PACKAGE_DIR.joinpath(*parts, "__init__.py")


def _is_module(name):
    parts = name.split(".")
    return (
        PACKAGE_DIR.joinpath(*parts).with_suffix(".py").exists()
        or PACKAGE_DIR.joinpath(*parts, "__init__.py").exists()
    )


def _layer(name):
    return LAYERS[name.split(".")[0]]


def _package_imports(name):
    """``(target module, line, at module level)`` for each import of a package module."""
    path = _path(name)
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    # The package a relative import of this module starts from.
    here = [] if name == "__init__" else name.split(".")
    if not is_package:
        here = here[:-1]
    top_level = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                base = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "sklearn_ae":
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                sub = ".".join([*base, alias.name])
                targets.append(sub if _is_module(sub) else ".".join(base) or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "sklearn_ae":
                    targets.append(".".join(parts[1:]) or "__init__")
        for target in targets:
            found.append((target, node.lineno, id(node) in top_level))
    return found


def test_every_module_has_a_layer():
    missing = sorted({name.split(".")[0] for name in _module_names()} - set(LAYERS))
    assert not missing, f"add these modules to LAYERS in {__file__}: {missing}"


@pytest.mark.parametrize("name", _module_names())
def test_imports_point_down(name):
    for target, line, at_top in _package_imports(name):
        where = f"sklearn_ae/{_path(name).relative_to(PACKAGE_DIR)}:{line}"
        assert at_top, f"{where}: function-local import of sklearn_ae.{target}"
        assert _layer(target) <= _layer(name), (
            f"{where}: {name} (layer {_layer(name)}) imports {target} (layer {_layer(target)})"
        )


def test_no_import_cycle():
    graph = {name: {target for target, _, _ in _package_imports(name)} for name in _module_names()}
    # A subpackage's modules import each other through their package's __init__ only
    # when they name it; a module importing its own package is an edge like any other.
    state = {}

    def visit(name, stack):
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if target == name:
                continue
            if state.get(target) == "open":
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*stack, target])
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])


def _third_party_imports():
    """The modules outside the package that the package's modules import at their top."""
    modules = set()
    for name in _module_names():
        tree = ast.parse(_path(name).read_text())
        for node in tree.body:
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules.add(node.module)
    return sorted(m for m in modules if m.split(".")[0] not in ("sklearn_ae", "__future__"))


# One fresh interpreter imports the third-party dependencies (torch, scipy,
# scikit-learn: seconds), then forks a child per module, which imports
# sklearn_ae.<name> with no module of the package loaded. Below the public
# surface, a stub package stands in for sklearn_ae/__init__.py, so the module
# loads with its own imports alone.
_ALONE = """
import importlib, json, os, sys, traceback, types
directory, public, names = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
for module in json.loads(sys.argv[4]):
    importlib.import_module(module)
failed = []
for name in names:
    pid = os.fork()
    if pid == 0:
        try:
            if name == "__init__":
                importlib.import_module("sklearn_ae")
            else:
                if name.split(".")[0] not in public:
                    package = types.ModuleType("sklearn_ae")
                    package.__path__ = [directory]
                    sys.modules["sklearn_ae"] = package
                importlib.import_module("sklearn_ae." + name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1]:
        failed.append(name)
print(json.dumps(failed))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_each_module_imports_alone():
    """Each module imports in a fresh interpreter, with only what it imports itself."""
    public = [name for name, layer in LAYERS.items() if layer == LAYERS["__init__"]]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _ALONE,
            str(PACKAGE_DIR),
            json.dumps(public),
            json.dumps(_module_names()),
            json.dumps(_third_party_imports()),
        ],
        cwd=PACKAGE_DIR.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failed, f"modules that fail to import alone: {failed}\n{result.stderr[-3000:]}"
