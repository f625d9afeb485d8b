"""What the benchmarks share: percentiles, and a real Jupyter server with the extension."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_k8s.devcluster.controlplane import free_port

TOKEN = "bench-token"
HEADERS = {"Authorization": f"token {TOKEN}"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_server(
    root: Path, kubeconfig: Path, config: dict[str, Any], namespace: str = "jupyter-k8s"
) -> tuple[subprocess.Popen, str, Path]:
    """`jupyter server` in a subprocess, as the ServiceAccount of `kubeconfig`; (proc, url, log).

    `config` holds more JupyterK8s traits (written to a config file: lists need one).
    """
    port = free_port()
    cfg = root.parent / "config"
    cfg.mkdir(exist_ok=True)
    (cfg / "jupyter_server_config.json").write_text(json.dumps({"JupyterK8s": config}))
    log = root.parent / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--ServerApp.port={port}",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={TOKEN}",
                "--allow-root",
                "--ServerApp.open_browser=False",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.jpserver_extensions=jupyter_k8s=True",
                f"--JupyterK8s.kubeconfig={kubeconfig}",
                f"--JupyterK8s.namespace={namespace}",
                "--JupyterK8s.owner=bench",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg)),
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            req = urllib.request.Request(f"{url}/jupyter-k8s/profiles", headers=HEADERS)
            with urllib.request.urlopen(req, timeout=2):
                return proc, url, log
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the Jupyter server did not start: {log.read_text()[-2000:]}")
