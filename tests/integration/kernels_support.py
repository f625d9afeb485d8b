"""Helpers for the remote-kernel integration tests: REST and websocket calls to a real server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from jobs_support import ServerProcess, user_kubeconfig

from jupyter_k8s.k8s.client import KubeClient


async def api(
    server: ServerProcess, method: str, path: str, body: Any = None, expect: int | None = None
) -> tuple[int, Any]:
    """A call to the server's REST API (path from the server root, e.g. /api/kernels)."""
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, f"{server.url}{path}", headers=server.headers, json=body) as resp,
    ):
        raw = await resp.read()
        data: Any = raw
        if raw and "json" in resp.headers.get("Content-Type", ""):
            data = json.loads(raw)
        if expect is not None:
            assert resp.status == expect, f"{method} {path} -> {resp.status}: {raw[:800]!r}"
        return resp.status, data


async def start_kernel(server: ServerProcess, name: str) -> str:
    _, model = await api(server, "POST", "/api/kernels", {"name": name}, expect=201)
    return model["id"]


class Channels:
    """The websocket of one kernel (/api/kernels/{id}/channels), JSON messages."""

    def __init__(self, server: ServerProcess, kernel_id: str):
        self.server = server
        self.kernel_id = kernel_id
        self.session_id = uuid.uuid4().hex
        self._http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.statuses: list[str] = []

    async def __aenter__(self) -> Channels:
        self._http = aiohttp.ClientSession()
        url = self.server.url.replace("http", "ws", 1)
        self.ws = await self._http.ws_connect(
            f"{url}/api/kernels/{self.kernel_id}/channels?session_id={self.session_id}",
            headers=self.server.headers,
            max_msg_size=0,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._http is not None:
            await self._http.close()

    def _msg(self, msg_type: str, content: dict, channel: str = "shell") -> dict:
        msg_id = uuid.uuid4().hex
        return {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "session": self.session_id,
                "username": "test",
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
            "buffers": [],
        }

    async def send(self, msg_type: str, content: dict, channel: str = "shell") -> str:
        msg = self._msg(msg_type, content, channel)
        assert self.ws is not None
        await self.ws.send_str(json.dumps(msg))
        return msg["header"]["msg_id"]

    async def recv(self, timeout: float) -> dict:
        assert self.ws is not None
        frame = await asyncio.wait_for(self.ws.receive(), timeout)
        if frame.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"websocket closed: {frame.type} {frame.data!r}")
        msg = json.loads(frame.data)
        if msg.get("msg_type") == "status" or msg.get("header", {}).get("msg_type") == "status":
            self.statuses.append(msg["content"]["execution_state"])
        return msg

    async def kernel_info(self, timeout: float = 30) -> dict:
        """Ask until the kernel answers (it may still be starting or restarting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg_id = await self.send("kernel_info_request", {})
            try:
                while True:
                    msg = await self.recv(min(1.0, max(0.01, deadline - loop.time())))
                    if (
                        msg["parent_header"].get("msg_id") == msg_id
                        and msg["msg_type"] == "kernel_info_reply"
                    ):
                        return msg["content"]
            except TimeoutError:
                if loop.time() > deadline:
                    raise

    async def execute(self, code: str, timeout: float = 30) -> dict[str, Any]:
        """Run code; returns {"status", "stdout", "result", "error", "reply"}."""
        msg_id = await self.send(
            "execute_request",
            {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
        )
        return await self.collect(msg_id, timeout)

    async def collect(self, msg_id: str, timeout: float = 30) -> dict[str, Any]:
        out: dict[str, Any] = {"stdout": "", "result": None, "error": None, "reply": None}
        idle = False
        deadline = time.monotonic() + timeout
        while out["reply"] is None or not idle:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            content = msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out["stdout"] += content["text"]
            elif kind == "execute_result":
                out["result"] = content["data"].get("text/plain")
            elif kind == "error":
                out["error"] = f"{content['ename']}: {content['evalue']}"
            elif kind == "execute_reply":
                out["reply"] = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        out["status"] = out["reply"]["status"]
        return out


async def kernel_pods(
    admin: KubeClient, namespace: str, kernel_id: str | None = None
) -> list[dict]:
    selector = "app.kubernetes.io/component=kernel"
    if kernel_id:
        selector += f",jupyter-k8s.io/kernel-id={kernel_id}"
    return (await admin.list("pods", namespace, labelSelector=selector))["items"]


async def wait_gone(
    admin: KubeClient, namespace: str, kind: str, name: str, timeout: float = 30
) -> None:
    from jupyter_k8s.k8s.client import NotFound

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            await admin.get(kind, name, namespace)
        except NotFound:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{kind} {name} still there after {timeout} s")


async def wait_no_kernel_pods(admin: KubeClient, namespace: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if not await kernel_pods(admin, namespace):
            return
        await asyncio.sleep(0.2)
    left = [p["metadata"]["name"] for p in await kernel_pods(admin, namespace)]
    raise TimeoutError(f"kernel pods left: {left}")


def install_cpu_kernelspec(
    dev_cluster: Any, admin_config: Any, namespace: str, tmp_path: Path
) -> tuple[dict[str, str], subprocess.CompletedProcess]:
    """`jupyter k8s kernelspec install --profile cpu` for a standalone client (papermill,
    jupyter_kernel_test) into a private Jupyter data dir under `tmp_path`, with the user's
    kubeconfig; the environment such a client runs with, and the install's result."""
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, tmp_path / "user.kubeconfig")
    env = dict(
        os.environ,
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_PATH=str(tmp_path / "empty"),
    )
    env.pop("KUBECONFIG", None)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_k8s.cli",
            "kernelspec",
            "install",
            "--profile",
            "cpu",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return env, install


def write_k8s_kernelspec(
    jupyter_path: Path, name: str, display_name: str, config: dict[str, Any]
) -> None:
    """A kernelspec `name` of the k8s-pod provisioner with `config` (profile, image, ...) in
    `jupyter_path`'s kernels folder, for a server started with that JUPYTER_PATH."""
    folder = jupyter_path / "kernels" / name
    folder.mkdir(parents=True)
    spec = {
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"kernel_provisioner": {"provisioner_name": "k8s-pod", "config": config}},
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
