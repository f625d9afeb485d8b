"""Helpers for the notebook-job integration tests: kubeconfigs, outputs, a real server.

Notebooks are built by tests/builders.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from jupyter_k8s.devcluster.bootstrap import service_account_token
from jupyter_k8s.devcluster.controlplane import DevCluster
from jupyter_k8s.devcluster.pki import kubeconfig
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient


def user_kubeconfig(
    cluster: DevCluster,
    admin: ClusterConfig,
    namespace: str,
    path: Path,
    service_account: str = "jupyter-k8s",
) -> Path:
    """A kubeconfig file with a token of `service_account` in `namespace`."""

    async def token() -> str:
        async with KubeClient(admin) as client:
            return await service_account_token(client, namespace, service_account)

    cfg = kubeconfig(
        admin.host,
        cluster.pki.ca.cert,
        service_account,
        token=asyncio.run(token()),
        namespace=namespace,
    )
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


def outputs_text(nb: dict[str, Any]) -> list[list[str]]:
    """Per code cell, the text of its stream, result and error outputs (for comparisons)."""
    result = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts = []
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                texts.append("".join(out["text"]))
            elif out["output_type"] in ("execute_result", "display_data"):
                texts.append("".join(out["data"].get("text/plain", "")))
            elif out["output_type"] == "error":
                texts.append(f"{out['ename']}: {out['evalue']}")
        result.append(texts)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A real `jupyter server` with the extension, in a subprocess: restartable."""

    root: Path
    kubeconfig: Path
    namespace: str
    owner: str = "alice"
    extra: tuple[str, ...] = ()
    config: dict[str, Any] | None = None  # more JupyterK8s traits, via a config file
    env: dict[str, str] | None = None  # more environment (e.g. JUPYTER_PATH for kernelspecs)
    token: str = "test-token"
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start(self, timeout: float = 60) -> None:
        self.port = self.port or free_port()
        self.log_path = self.root.parent / f"server-{self.owner}-{self.port}.log"
        argv = [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--ServerApp.port={self.port}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={self.token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={self.root}",
            "--allow-root",
            "--ServerApp.jpserver_extensions=jupyter_k8s=True",
            f"--JupyterK8s.kubeconfig={self.kubeconfig}",
            f"--JupyterK8s.namespace={self.namespace}",
            f"--JupyterK8s.owner={self.owner}",
            *self.extra,
        ]
        config_dir = self.root.parent / f"jupyter-config-{self.owner}"
        config_dir.mkdir(exist_ok=True)
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps({"JupyterK8s": self.config or {}})
        )
        env = dict(os.environ, **(self.env or {}), JUPYTER_CONFIG_DIR=str(config_dir))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        import urllib.request

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {self.log_path.read_text()[-2000:]}")
            try:
                req = urllib.request.Request(
                    f"{self.url}/jupyter-k8s/profiles", headers=self.headers
                )
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("jupyter server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    async def call(
        self, method: str, path: str, body: Any = None, expect: int | None = None
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as s,
            s.request(
                method,
                f"{self.url}/jupyter-k8s{path}",
                headers=self.headers,
                json=body if body is not None else None,
            ) as resp,
        ):
            raw = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
            data: Any = raw
            if "json" in ctype and raw and "ipynb" not in ctype:
                data = json.loads(raw)
            if expect is not None:
                assert resp.status == expect, f"{method} {path} -> {resp.status}: {raw[:500]!r}"
            return resp.status, data

    async def wait_job(self, job_id: str, until, timeout: float = 90) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: dict[str, Any] = {}
        while loop.time() < deadline:
            _, last = await self.call("GET", f"/jobs/{job_id}", expect=200)
            if until(last):
                return last
            await asyncio.sleep(0.2)
        raise TimeoutError(f"job {job_id} never got there; last: {last}")


@contextlib.contextmanager
def shared_claim(
    admin: ClusterConfig, namespace: str, root: Path, claim: str, pv_name: str
) -> Iterator[str]:
    """A PersistentVolume on `root` (hostPath: the process node's pods see this machine's
    files) bound to the claim `claim` in the namespace, as an operator sets up shared staging
    once (a PVC is allowed under Pod Security "restricted"); yields the claim's name and
    deletes the volume on leaving (the claim goes with the test's namespace)."""

    async def make() -> None:
        async with KubeClient(admin) as client:
            await client.create(
                "persistentvolumes",
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": pv_name},
                    "spec": {
                        "capacity": {"storage": "1Gi"},
                        "accessModes": ["ReadWriteMany"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": "",
                        "hostPath": {"path": str(root), "type": "Directory"},
                    },
                },
            )
            await client.create(
                "persistentvolumeclaims",
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim},
                    "spec": {
                        "accessModes": ["ReadWriteMany"],
                        "storageClassName": "",
                        "volumeName": pv_name,
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                },
                namespace,
            )
            for _ in range(100):
                pvc = await client.get("persistentvolumeclaims", claim, namespace)
                if pvc.get("status", {}).get("phase") == "Bound":
                    return
                await asyncio.sleep(0.2)
            raise TimeoutError(f"the claim {claim} was not bound")

    async def drop() -> None:
        async with KubeClient(admin) as client:
            await client.delete("persistentvolumes", pv_name, missing_ok=True)

    asyncio.run(make())
    try:
        yield claim
    finally:
        asyncio.run(drop())
