"""What the benchmarks share: percentiles, a local cluster with a real Jupyter server and the
extension on it, and the printing of figures and goals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_k8s.devcluster import DEFAULT_MAX_PODS
from jupyter_k8s.devcluster.controlplane import DevCluster, free_port

TOKEN = "bench-token"
HEADERS = {"Authorization": f"token {TOKEN}"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ticker_notebook(ticks: int, every: float) -> dict[str, Any]:
    """A one-cell Python notebook that prints `tick i` `ticks` times, `every` seconds apart."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "id": "tick",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": f"import time\nfor i in range({ticks}):\n"
                f"    print('tick', i, flush=True)\n    time.sleep({every})",
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def start_server(
    root: Path,
    kubeconfig: Path,
    config: dict[str, Any],
    namespace: str = "jupyter-k8s",
    start_timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str, Path]:
    """`jupyter server` in a subprocess, as the ServiceAccount of `kubeconfig`; (proc, url, log).

    `config` holds more JupyterK8s traits (written to a config file: lists need one).
    `start_timeout`: seconds until it answers (a server under tracemalloc starts far slower);
    `env`: more environment variables, for the server process only.
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
            env=dict(os.environ, **(env or {}), JUPYTER_CONFIG_DIR=str(cfg)),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            req = urllib.request.Request(f"{url}/jupyter-k8s/profiles", headers=HEADERS)
            with urllib.request.urlopen(req, timeout=2):
                return proc, url, log
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(
        f"the Jupyter server did not start within {start_timeout:g} s: {log.read_text()[-2000:]}"
    )


@dataclass
class BenchServer:
    """A local cluster and a Jupyter server on it, for one benchmark run."""

    tmpdir: Path
    cluster: DevCluster
    root: Path  # the server's root folder
    proc: subprocess.Popen
    url: str
    log: Path


@contextmanager
def bench_server(
    config: dict[str, Any],
    prefix: str = "jk8s-bench-",
    start_timeout: float = 60.0,
    env: dict[str, str] | None = None,
    max_pods: int = DEFAULT_MAX_PODS,
) -> Iterator[BenchServer]:
    """Bring a local cluster up in a temporary folder and start a Jupyter server on it, as the
    extension's ServiceAccount with the JupyterK8s traits in `config`; stop both on leaving."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        tmpdir = Path(tmp)
        cluster = DevCluster(tmpdir / "cluster", progress=lambda _m: None, max_pods=max_pods)
        cluster.up(wait=True)
        proc = None
        try:
            root = tmpdir / "work"
            root.mkdir()
            proc, url, log = start_server(
                root, cluster.user_kubeconfig, config, start_timeout=start_timeout, env=env
            )
            yield BenchServer(tmpdir, cluster, root, proc, url, log)
        finally:
            if proc:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            cluster.down(quiet=True)


def report(
    figures: dict[str, Any], json_path: Path | None, goals: list[tuple[str, bool]] = ()
) -> bool:
    """Print the figures (one per line, aligned) and each goal met or not, write them as JSON
    where asked; True when every goal is met."""
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    for text, met in goals:
        print(f"goal {text}: {'met' if met else 'NOT met'}")
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2))
    return all(met for _text, met in goals)
