"""The import graph of jupyter_k8s: no cycles, and only the package's entry point imports the
server extension (jupyter_k8s.app).

Every import counts, those inside functions too: a function-level import that closes a cycle
only hides it until someone moves the import up, and it still ties the two modules together.
That includes the entry points in the package's __init__.py (the server extension's imports
jupyter_k8s.app, `load_ipython_extension` the magics): a module they reach must not import
the package itself back (`from jupyter_k8s import __version__`: jupyter_k8s.version has it).

Imports under `if TYPE_CHECKING:` are left out: they never run, and annotations naming each
other's classes are not a dependency of one module's code on the other's.

Modules are read with `ast`, never imported, so the test sees the whole package (the node
agent, the in-pod code, the CLI) whatever is installed. The failure message prints each cycle
as a chain of imports with the line of each one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jupyter_k8s

PACKAGE = Path(jupyter_k8s.__file__).parent
ROOT = PACKAGE.name
#: The one module allowed to import jupyter_k8s.app: the extension's entry point lives there.
APP = f"{ROOT}.app"
APP_IMPORTERS = {ROOT}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported jupyter_k8s module
    line: int
    in_function: bool = False  # runs when a function is called, not when the module loads

    def __str__(self) -> str:
        where = f"{module_path(self.source)}:{self.line}"
        return f"{self.source} -> {self.target} ({where}{', in a function' * self.in_function})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_path(name: str) -> str:
    path = PACKAGE.parent.joinpath(*name.split("."))
    if path.is_dir():
        path = path / "__init__.py"
    else:
        path = path.with_suffix(".py")
    return str(path.relative_to(PACKAGE.parent))


def all_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "node_modules" not in path.parts and "__pycache__" not in path.parts
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(
    tree: ast.AST, in_function: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that may run, at any depth (functions, classes, try blocks),
    and whether it is inside a function."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the `else:` of `if TYPE_CHECKING:` does run
                yield from _runtime_imports(ast.Module([child], []), in_function)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _runtime_imports(node, inner)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """`name`, or the longest prefix of it that is one of our modules (an attribute import
    such as `import jupyter_k8s.app.JupyterK8s` can't happen, but `a.b` of a package can)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The jupyter_k8s modules that module `name` imports, relative imports resolved."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []
    for node, in_function in _runtime_imports(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                # `from pkg import mod` imports the submodule; `from mod import name`, mod.
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
        for target in targets:
            resolved = _known(target, modules) if target.startswith(ROOT) else None
            edge = Import(name, resolved or "", node.lineno, in_function)
            if resolved is not None and resolved != name and edge not in found:
                found.append(edge)
    return found


def import_graph() -> dict[str, list[Import]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _strongly_connected(graph: dict[str, list[Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for edge in graph.get(v, []):
            w = edge.target
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _shortest_cycle(
    graph: dict[str, list[Import]], component: list[str], start: str
) -> list[Import]:
    """A shortest chain of imports from `start` back to itself, within its component."""
    inside = set(component)
    came: dict[str, Import] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for edge in graph[v]:
            if edge.target not in inside:
                continue
            if edge.target == start:
                chain = [edge]
                while chain[0].source != start:
                    chain.insert(0, came[chain[0].source])
                return chain
            if edge.target not in came:
                came[edge.target] = edge
                queue.append(edge.target)
    raise AssertionError(f"no cycle through {start}")  # not a strongly connected component


def import_cycles(graph: dict[str, list[Import]]) -> list[str]:
    """Per group of modules that import each other: their names, then chains of imports
    (the shortest cycle through each module that no earlier chain went through), so that
    each import to remove shows."""
    report = []
    for component in _strongly_connected(graph):
        lines = [f"{', '.join(component)}:"]
        covered: set[str] = set()
        for start in component:
            if start in covered:
                continue
            chain = _shortest_cycle(graph, component, start)
            covered.update(edge.source for edge in chain)
            if len(lines) > 1:
                lines.append("  --")
            lines += [f"  {edge}" for edge in chain]
        report.append("\n".join(lines))
    return report


# -- the tests ----------------------------------------------------------------------------------


def test_every_relative_import_is_resolved():
    """A resolver that lost imports would find no cycle anywhere: each `from .x import y`
    that runs must land on one of our modules, and most modules import some."""
    modules = all_modules()
    graph = import_graph()
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        relative = {n.lineno for n, _ in _runtime_imports(tree) if getattr(n, "level", 0)}
        resolved = {edge.line for edge in graph[name]}
        assert relative <= resolved, f"{module_path(name)}: lines {sorted(relative - resolved)}"
    assert sum(1 for edges in graph.values() if edges) > len(modules) / 2


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles among jupyter_k8s modules:\n" + "\n".join(cycles)


def test_only_the_entry_point_imports_the_app():
    """jupyter_k8s.app builds the server extension (traits, handlers, services): the modules
    it wires together must not reach back to it, or the CLI, the magic and the in-pod code
    would load the whole server. Only the package's entry point function imports it."""
    offenders = [
        str(edge)
        for name, edges in import_graph().items()
        for edge in edges
        if edge.target == APP and name not in APP_IMPORTERS
    ]
    assert not offenders, f"modules that import {APP}:\n" + "\n".join(offenders)


def _third_party_imports(path: Path) -> set[str]:
    """Top-level names of what a module imports at runtime, functions included."""
    found = set()
    for node, _ in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_jobs_and_kernels_do_not_import_each_other():
    """What both need lives in k8s/ (docs/architecture.md): jobs/ and kernels/ stay apart."""
    offenders = [
        str(edge)
        for name, edges in import_graph().items()
        for edge in edges
        for a, b in ((".jobs", ".kernels"), (".kernels", ".jobs"))
        if name.startswith(ROOT + a) and edge.target.startswith(ROOT + b)
    ]
    assert not offenders, "\n".join(offenders)


def test_services_and_the_kubernetes_adapter_know_no_http_server_or_command_line():
    """tornado belongs to the HTTP boundary (handlers, and the kernel start error jupyter_server
    passes on), argparse to the CLI: the services and k8s/ are used by all entry points."""
    layers = (f"{ROOT}.jobs.", f"{ROOT}.k8s.", f"{ROOT}.doctor.")
    allowed_tornado = {f"{ROOT}.kernels.start_error", f"{ROOT}.kernels.handlers"}
    offenders = []
    for name, path in all_modules().items():
        imported = _third_party_imports(path)
        in_layer = name.startswith(layers) or (
            name.startswith(f"{ROOT}.kernels.") and name not in allowed_tornado
        )
        if in_layer and imported & {"tornado", "argparse"}:
            offenders.append(f"{module_path(name)}: {sorted(imported & {'tornado', 'argparse'})}")
    assert not offenders, "\n".join(offenders)
