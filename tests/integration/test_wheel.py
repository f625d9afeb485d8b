"""One wheel: `python -m build --wheel` makes a wheel with the built JupyterLab extension, and
installed into a fresh virtual environment with no Node.js on the PATH, JupyterLab lists the
labextension and jupyter_server the server extension, both enabled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

# Not marked `integration`: it needs no cluster, only pip (the registry) and a few minutes.

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], **kw) -> str:
    """stdout and stderr of a command that must succeed, without terminal colours."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)
    assert result.returncode == 0, f"{argv}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_the_wheel_installs_both_extensions_without_node(tmp_path: Path):
    started = time.monotonic()
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)])
    built = time.monotonic()
    (wheel,) = dist.glob("jupyter_k8s-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    share = "jupyter_k8s-{v}.data/data/share/jupyter/labextensions/jupyter-k8s/"
    version = wheel.name.split("-")[1]
    assert share.format(v=version) + "package.json" in names
    assert any(n.startswith(share.format(v=version) + "static/remoteEntry.") for n in names)
    assert (
        f"jupyter_k8s-{version}.data/data/etc/jupyter/jupyter_server_config.d/jupyter_k8s.json"
        in names
    )
    assert "jupyter_k8s/pod/runner.py" in names and "jupyter_k8s/manifests/rbac.yaml" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", str(wheel)])
    installed = time.monotonic()
    # Only the new environment on the PATH: no node, no jlpm, nothing of the dev venv.
    env = {
        "PATH": str(venv / "bin"),
        "HOME": str(tmp_path / "home"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    node = subprocess.run(
        [py, "-c", "import shutil; print(shutil.which('node'))"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert node.stdout.strip() == "None"
    out = _run(["jupyter", "labextension", "list"], env=env)
    line = next(x for x in out.splitlines() if "jupyter-k8s" in x)
    assert "enabled" in line and "OK" in line, out
    out = _run(["jupyter", "server", "extension", "list"], env=env)
    assert re.search(r"^\s*jupyter_k8s enabled$", out, re.M), out
    assert re.search(r"^\s*jupyter_k8s .*OK$", out, re.M), out
    print(
        f"wheel built in {built - started:.0f} s, installed in a fresh venv in "
        f"{installed - built:.0f} s ({wheel.name}, {wheel.stat().st_size // 1024} KiB)"
    )
