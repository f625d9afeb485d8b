"""The pod network of the real node (CNI bridge + host-local + loopback + portmap): a pod reaches
another pod by its pod IP, and the host (the node's address on the bridge, the pods' gateway).
The host reaching pods is what remote kernels and held outputs use
(test_node_kernels.py, test_node_jobs.py).

Both pods run the cluster's notebook image as uid 1000 under Pod Security "restricted".
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from typing import Any

import pytest
from node_pods import restricted_pod

from jupyter_k8s.devcluster.realnode import images
from jupyter_k8s.k8s.client import KubeClient

pytest_plugins = ("realnode_support",)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node_containerd,
    pytest.mark.asyncio,
    pytest.mark.timeout(300),
]

PORT = 8080


async def _phase(admin: KubeClient, ns: str, name: str, phases: set[str]) -> dict[str, Any]:
    for _ in range(600):
        pod = await admin.get("pods", name, ns)
        if pod.get("status", {}).get("phase") in phases:
            return pod
        await asyncio.sleep(0.2)
    raise AssertionError(f"pod {name} not {phases}: {pod.get('status')}")


class HostListener:
    """A TCP server on the node's bridge address that records the first line each client
    sends (a pod reaching the host)."""

    def __init__(self, address: str):
        self.sock = socket.create_server((address, 0))
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self.peers: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                self.peers.append(peer[0])
                conn.settimeout(10)
                self.lines.append(conn.makefile().readline().strip())
                conn.sendall(b"hello pod\n")

    def close(self) -> None:
        self.sock.close()


async def test_pods_reach_each_other_and_the_host(
    real_node_admin: KubeClient, real_node_namespace: str
) -> None:
    admin, ns = real_node_admin, real_node_namespace
    server_script = (
        "import http.server, socketserver\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'from pod a')\n"
        f"http.server.HTTPServer(('0.0.0.0', {PORT}), H).serve_forever()\n"
    )
    await admin.create(
        "pods", restricted_pod("pod-a", images.NOTEBOOK_IMAGE, ["python3", "-c", server_script]), ns
    )
    a = await _phase(admin, ns, "pod-a", {"Running"})
    # hostIP: the node's InternalIP, its address on the bridge (the pods' gateway).
    a_ip, node_ip = a["status"]["podIP"], a["status"]["hostIP"]
    assert ipaddress.ip_address(a_ip) != ipaddress.ip_address(node_ip)
    host_listener = HostListener(node_ip)

    client_script = (
        "import socket, time, urllib.request\n"
        "for _ in range(50):\n"  # pod a's server may still be binding
        "    try:\n"
        f"        body = urllib.request.urlopen('http://{a_ip}:{PORT}/', timeout=5).read()\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.2)\n"
        "print('pod:', body.decode())\n"
        f"with socket.create_connection(('{node_ip}', {host_listener.port}), timeout=5) as s:\n"
        "    s.sendall(b'hello host\\n')\n"
        "    print('host:', s.makefile().readline().strip())\n"
    )
    await admin.create(
        "pods", restricted_pod("pod-b", images.NOTEBOOK_IMAGE, ["python3", "-c", client_script]), ns
    )
    try:
        b = await _phase(admin, ns, "pod-b", {"Succeeded", "Failed"})
        log = await admin.request("GET", f"/api/v1/namespaces/{ns}/pods/pod-b/log", raw=True)
        assert b["status"]["phase"] == "Succeeded", (b["status"], log)
        assert log.splitlines() == ["pod: from pod a", "host: hello pod"], log
        # From pod b's own address: no NAT between the pods and the node.
        assert host_listener.peers == [b["status"]["podIP"]]
        assert host_listener.lines == ["hello host"]
    finally:
        host_listener.close()
        for name in ("pod-a", "pod-b"):
            await admin.delete("pods", name, ns, missing_ok=True)
