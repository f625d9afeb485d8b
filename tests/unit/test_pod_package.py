"""The rules of jupyter_k8s/pod/, the code that runs in the job and kernel pods.

Those modules run under the image's Python, not the server's: any Python >= 3.8 with, for the
runner, papermill. They are shipped as source text, so each must stand alone. Checked here by
parsing (`ast`), not importing, so a wrong import fails the test instead of the import; and,
where the machine has a Python 3.8, by running them under it.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import jupyter_k8s
from jupyter_k8s import pod

POD_DIR = Path(pod.__file__).parent
PACKAGE_DIR = Path(jupyter_k8s.__file__).parent
MODULES = sorted(POD_DIR.glob("*.py"))

#: The third-party packages each module may import, besides the standard library. Every module
#: in pod/ must be listed, so that a new one is a decision, not an accident.
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),  # a docstring; never shipped
    # papermill runs the notebook and nbformat reads and writes it; jupyter_client is
    # papermill's own dependency (via nbclient): the runner looks the kernelspec up with it,
    # as papermill does next, to name a missing ipykernel before anything starts.
    "runner": {"papermill", "nbformat", "jupyter_client"},
    # The kernel the launcher execs is the kernelspec's (ipykernel mostly): it may import that,
    # nothing else (today it imports only the standard library).
    "launcher": {"ipykernel"},
}

#: Standard-library modules newer than Python 3.8: in sys.stdlib_module_names here (3.11+),
#: missing in the oldest image Python we promise.
NEWER_THAN_38 = {"graphlib", "zoneinfo", "tomllib"}


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """Top-level names of a module's absolute imports, and its relative imports."""
    names: set[str] = set()
    relative: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative.append("." * node.level + (node.module or ""))
            else:
                names.add((node.module or "").split(".")[0])
    return names, relative


def test_every_module_has_its_rule():
    assert {p.stem for p in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_imports_only_the_standard_library_and_its_allowed_packages(path: Path):
    names, relative = _imports(path)
    assert not relative, f"{path.name} is shipped alone: no relative imports ({relative})"
    outside = names - set(sys.stdlib_module_names) - ALLOWED[path.stem]
    assert not outside, f"{path.name} may not import {sorted(outside)} (it runs in the image)"
    too_new = names & NEWER_THAN_38
    assert not too_new, f"{path.name} imports {sorted(too_new)}, not in Python 3.8"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_parses_with_the_python_38_grammar(path: Path):
    ast.parse(path.read_text(), str(path), feature_version=(3, 8))


def test_the_server_does_not_import_the_pod_code():
    """The server reads these files as text (importlib.resources); importing one would load
    papermill's placeholders or the launcher into the server for nothing."""
    offenders = []
    for path in PACKAGE_DIR.rglob("*.py"):
        if POD_DIR in path.parents:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # resolve ".." against the file's package
                    package = path.relative_to(PACKAGE_DIR.parent).parent.parts
                    base = package[: len(package) - node.level + 1]
                    module = ".".join([*base, module] if module else base)
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
        if any(n == "jupyter_k8s.pod" or n.startswith("jupyter_k8s.pod.") for n in names):
            offenders.append(str(path.relative_to(PACKAGE_DIR)))
    assert offenders == []


# -- under a real Python 3.8 ---------------------------------------------------------------------


def _python38() -> str | None:
    """A Python 3.8 interpreter on this machine: $JK8S_PYTHON38, python3.8 on the PATH, or
    pyenv's (the dev machines' image has one; no package registry we reach offers it)."""
    candidates = [os.environ.get("JK8S_PYTHON38"), shutil.which("python3.8")]
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pattern = os.path.join(pyenv_root, "versions", "3.8*", "bin", "python3.8")
    candidates += sorted(glob.glob(pattern))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            # A pyenv shim is on the PATH even when 3.8 is not the selected version: ask.
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 8))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


PYTHON38 = _python38()
needs_38 = pytest.mark.skipif(
    PYTHON38 is None, reason="no Python 3.8 here (set JK8S_PYTHON38); the grammar check stands"
)


def _run38(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    assert PYTHON38 is not None
    # -E -s: no PYTHON* variables, no user site: the bare interpreter an image would have.
    return subprocess.run(
        [PYTHON38, "-E", "-s", *args], capture_output=True, text=True, timeout=60, **kwargs
    )


@needs_38
@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_compiles_and_imports_under_python_38(path: Path, tmp_path: Path):
    proc = _run38("-m", "py_compile", str(path))
    assert proc.returncode == 0, proc.stderr
    # Imported as a lone file, as it would be in the pod (the runner without papermill).
    shutil.copy(path, tmp_path / path.name)
    proc = _run38("-c", f"import {path.stem}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


@needs_38
def test_runner_under_python_38_names_the_missing_papermill(tmp_path: Path):
    """3.8 without papermill: the runner's config, checks, markers and termination log run."""
    termination = tmp_path / "termination-log"
    termination.write_text("")
    config = tmp_path / "job.json"
    config.write_text(
        json.dumps(
            {
                "input": str(tmp_path / "in.ipynb"),
                "output": str(tmp_path / "out.ipynb"),
                "kernel_name": "python3",
                "termination_log": str(termination),
            }
        )
    )
    proc = _run38(str(POD_DIR / "runner.py"), "--config", str(config))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    marker, payload = termination.read_text().split(" ", 1)
    assert marker == "##jupyter-k8s##"
    final = json.loads(payload)
    assert (final["event"], final["reason"]) == ("failed", "MissingPackage")
    assert final["evalue"].startswith("the image has no papermill: ")


@needs_38
def test_runner_unpack_under_python_38(tmp_path: Path):
    archive = tmp_path / "folder.tar.gz"
    (tmp_path / "src" / "data").mkdir(parents=True)
    (tmp_path / "src" / "data" / "answer.txt").write_text("42")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "data", arcname="data")
    shutil.copy(POD_DIR / "runner.py", tmp_path / "runner.py")
    script = (
        "import sys, runner; "
        "print(runner.unpack(sys.argv[1], sys.argv[2]), runner.ipc_prefix(sys.argv[2]))"
    )
    proc = _run38("-c", script, str(archive), str(tmp_path / "dest"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", str(tmp_path / "dest" / "k")]
    assert (tmp_path / "dest" / "data" / "answer.txt").read_text() == "42"


@needs_38
def test_launcher_under_python_38_writes_the_pod_ip_and_execs(tmp_path: Path):
    secret, run = tmp_path / "secret", tmp_path / "run"
    secret.mkdir()
    (secret / "connection.json").write_text(json.dumps({"key": "k", "shell_port": 1}))
    src = (POD_DIR / "launcher.py").read_text()
    src = src.replace('"/var/run/jupyter-k8s/kernel"', repr(str(secret)))
    src = src.replace('"/var/run/jupyter-k8s/run"', repr(str(run)))
    script = tmp_path / "launcher.py"
    script.write_text(src)
    show = "import json, sys; print(sys.version_info[:2], json.load(open(sys.argv[1]))['ip'])"
    proc = _run38(
        str(script),
        "--",
        "python",  # not on this PATH: the launcher falls back to its own interpreter
        "-c",
        show,
        "{connection_file}",
        env={"POD_IP": "127.8.8.8", "PATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(3, 8) 127.8.8.8"
