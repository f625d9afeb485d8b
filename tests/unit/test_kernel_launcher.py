"""The in-pod launcher: the pod IP goes into a private copy of the connection file."""

from __future__ import annotations

import ast
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_k8s.kernels.objects import DEFAULT_PORTS, make_connection_info
from jupyter_k8s.pod import launcher


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    d = tmp_path / "secret"
    d.mkdir()
    info = make_connection_info(DEFAULT_PORTS, b"the-key", kernel_name="k8s-cpu")
    f = d / "connection.json"
    f.write_text(json.dumps(info))
    f.chmod(0o400)
    return d


def test_writes_pod_ip_and_fills_the_command(secret_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    cmd = launcher.prepare(
        ["--", "python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        {"POD_IP": "10.1.2.3", "PATH": "/usr/bin:/bin"},
        str(secret_dir),
        str(run),
    )
    written = run / "connection.json"
    assert cmd[-1] == str(written) and cmd[1:4] == ["-m", "ipykernel_launcher", "-f"]
    info = json.loads(written.read_text())
    assert info["ip"] == "10.1.2.3" and info["key"] == "the-key"
    assert info["shell_port"] == DEFAULT_PORTS["shell_port"]
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert not (run / "connection.json.partial").exists()


def test_without_pod_ip_binds_all(secret_dir: Path, tmp_path: Path):
    launcher.prepare(["--", "k", "{connection_file}"], {}, str(secret_dir), str(tmp_path / "r"))
    assert json.loads((tmp_path / "r" / "connection.json").read_text())["ip"] == "0.0.0.0"


def test_missing_python_falls_back_to_this_interpreter(secret_dir: Path, tmp_path: Path):
    cmd = launcher.prepare(
        ["--", "python", "-c", "1"], {"PATH": str(tmp_path)}, str(secret_dir), str(tmp_path / "r")
    )
    assert cmd[0] == sys.executable


@pytest.mark.parametrize("argv", [["python"], ["--"]])
def test_usage_errors(argv, secret_dir: Path, tmp_path: Path):
    with pytest.raises(SystemExit):
        launcher.prepare(argv, {}, str(secret_dir), str(tmp_path))


def test_stdlib_only():
    """The launcher runs in any image with Python: it imports nothing else."""
    tree = ast.parse(Path(launcher.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "json", "os", "shutil", "sys"}


def test_runs_as_a_script_and_execs(secret_dir: Path, tmp_path: Path):
    """End to end in a subprocess: exec replaces the launcher with the command."""
    src = Path(launcher.__file__).read_text()
    src = src.replace('"/var/run/jupyter-k8s/kernel"', repr(str(secret_dir)))
    src = src.replace('"/var/run/jupyter-k8s/run"', repr(str(tmp_path / "run")))
    script = tmp_path / "launcher.py"
    script.write_text(src)
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--",
            sys.executable,
            "-c",
            "import json,sys; print(json.load(open(sys.argv[1]))['ip'])",
            "{connection_file}",
        ],
        capture_output=True,
        text=True,
        env={"POD_IP": "127.9.9.9", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "127.9.9.9"
