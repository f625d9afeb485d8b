"""Every third-party package jupyter_k8s imports is one of its declared dependencies.

An undeclared import works where something else happened to install the package (jupyter_server
brings tornado, pyzmq, nbformat...) and breaks the day that changes. The modules are read with
`ast`, never imported; every import counts, those inside functions too. Left out:

- jupyter_k8s/pod/: it runs inside the notebook's image, not where the package is installed;
- imports under `if TYPE_CHECKING:`: they never run;
- optional imports, in a `try` whose `except` catches ImportError (hub.py's JupyterHub base
  class): the module works without them;
- the standard library and jupyter_k8s itself.

Each imported top-level name is mapped to the distributions that provide it
(importlib.metadata.packages_distributions()); one of them must be in pyproject.toml's
[project].dependencies.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import jupyter_k8s

PACKAGE = Path(jupyter_k8s.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"
#: Runs in the image (the runner and the kernel launcher), with what the image has.
IN_IMAGE = PACKAGE / "pod"
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (PyYAML == pyyaml, jupyter_client ==
    jupyter-client)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    with PYPROJECT.open("rb") as f:
        requirements = tomllib.load(f)["project"]["dependencies"]
    names = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        assert match, f"unreadable requirement {requirement!r} in {PYPROJECT}"
        names.add(_normalized(match[1]))
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if any(isinstance(n, ast.Name) and n.id in _IMPORT_ERRORS for n in names):
            return True
    return False


def _imports(node: ast.AST) -> Iterator[tuple[str, int]]:
    """(top-level name, line) of each absolute import under `node`, skipping the blocks the
    module docstring names."""
    if isinstance(node, ast.If) and _is_type_checking(node):
        yield from (item for child in node.orelse for item in _imports(child))
        return
    if isinstance(node, ast.Try) and _catches_import_error(node):
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            yield from _imports(child)
        return
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name.partition(".")[0], node.lineno
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module.partition(".")[0], node.lineno
    for child in ast.iter_child_nodes(node):
        yield from _imports(child)


def third_party_imports() -> dict[str, list[str]]:
    """Top-level name -> where it is imported ("jupyter_k8s/x.py:12")."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(IN_IMAGE):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line in _imports(tree):
            if name in sys.stdlib_module_names or name == PACKAGE.name:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            found.setdefault(name, []).append(where)
    return found


def test_the_scan_sees_the_known_imports():
    """A guard on the scan itself: these are imported at module level, in functions, and
    (jupyterhub) optionally."""
    found = third_party_imports()
    for name in ("tornado", "yaml", "nbformat", "zmq", "jupyter_client", "jupyter_core"):
        assert name in found, f"{name} not seen: the scan misses imports"
    assert "jupyterhub" not in found  # optional: hub.py works without it
    assert "papermill" not in found  # only jupyter_k8s/pod/ (the image) imports it


def test_every_third_party_import_is_a_declared_dependency():
    wanted = declared()
    provided_by = importlib.metadata.packages_distributions()
    problems = []
    for name, places in sorted(third_party_imports().items()):
        distributions = provided_by.get(name)
        if not distributions:
            problems.append(f"{name} (no installed distribution provides it): {places[0]}")
        elif not {_normalized(d) for d in distributions} & wanted:
            problems.append(
                f"{name} (distribution {' or '.join(sorted(set(distributions)))}) is not in "
                f"[project].dependencies of pyproject.toml; imported at {', '.join(places[:3])}"
            )
    assert not problems, "undeclared imports:\n" + "\n".join(problems)
