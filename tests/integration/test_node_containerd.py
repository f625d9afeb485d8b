"""The real node (`dev-cluster up --node containerd`): kubelet + containerd + runc + CNI.

A private cluster of its own: the node registers and becomes Ready, a pod of an image built
here (no registry) runs as uid 1000 under the namespace's "restricted" Pod Security profile,
its log comes back through the API server (pods/{name}/log: API server -> kubelet over TLS
checked against the cluster CA), its pod IP answers from the host, a notebook job with a
parameter runs on the node's notebook image and its executed notebook comes back, and `down`
leaves no process, mount, bridge, NAT rule, cgroup or directory behind.

Needs root and Debian's containerd, runc and iptables (see docs/dev-cluster.md). With CI=true
it fails when the real node cannot start; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from builders import notebook, write_notebook
from node_pods import restricted_pod

from jupyter_k8s.devcluster.build import Versions, find_binaries
from jupyter_k8s.devcluster.controlplane import DevCluster, pid_alive
from jupyter_k8s.devcluster.realnode import images, prereqs
from jupyter_k8s.devcluster.realnode.layout import Layout

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = [pytest.mark.integration, pytest.mark.node_containerd]


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class Api:
    """Just enough of the API for this test, as the cluster admin (certificates)."""

    def __init__(self, cluster: DevCluster, port: int):
        self.server = f"https://127.0.0.1:{port}"
        self.ctx = ssl.create_default_context(cafile=str(cluster.pki.ca.cert))
        self.ctx.load_cert_chain(cluster.pki.dir / "admin.crt", cluster.pki.dir / "admin.key")

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(
            self.server + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get(self, path: str) -> dict:
        status, body = self.call("GET", path)
        assert status == 200, body[:500]
        return json.loads(body)


def _wait_phase(api: Api, path: str, phases: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        pod = api.get(path)
        if pod.get("status", {}).get("phase") in phases:
            return pod
        if time.monotonic() > deadline:
            events = api.get(path.rsplit("/pods/", 1)[0] + "/events")["items"]
            reasons = [f"{e['reason']}: {e['message'][:300]}" for e in events[-5:]]
            pytest.fail(f"pod not {phases} in {timeout:.0f} s: {pod.get('status')}\n{reasons}")
        time.sleep(0.2)


def _record(layout: Layout) -> dict:
    return json.loads(layout.state_file.read_text())


def _leftovers(state: Path, layout: Layout, mount_ns: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "mnt") == mount_ns:
                found.append(f"process {entry.name} in the node's mount namespace")
        except OSError:
            continue
    mounts = Path("/proc/self/mounts").read_text()
    if str(state) in mounts:
        found.append("a mount under the state directory")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    if f" {layout.bridge}:" in links:
        found.append(f"bridge {layout.bridge}")
    for table in ("nat", "filter"):
        rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True)
        if layout.network_name in rules.stdout:
            found.append(f"iptables {table} rules of {layout.network_name}")
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if (hierarchy / layout.cgroup_root.lstrip("/")).exists():
            found.append(f"cgroup {hierarchy / layout.cgroup_root.lstrip('/')}")
    if layout.root.exists():
        found.append(f"directory {layout.root}")
    return found


def test_real_node_runs_a_pod_of_a_local_image_and_leaves_nothing(tmp_path: Path):
    if find_binaries(Versions()) is None:
        _unavailable("control-plane binaries are not built (run `jupyter k8s dev-cluster build`)")
    problems = prereqs.problems(prereqs.probe())
    if problems:
        _unavailable("the real node cannot start here: " + "; ".join(map(str, problems)))
    state = tmp_path / "realnode-cluster"
    cluster = DevCluster(state, node="containerd")
    layout = Layout(state)
    started = time.monotonic()
    try:
        st = cluster.up(wait=True, timeout=180)
    except Exception as exc:  # noqa: BLE001 - reported with its message
        _unavailable(f"`up --node containerd` failed: {exc}")
        raise
    mount_ns = os.readlink(f"/proc/{st.pids['containerd']}/ns/mnt")
    try:
        ready = time.monotonic() - started
        api = Api(cluster, st.ports["apiserver"])
        node = api.get(f"/api/v1/nodes/{st.node_name}")
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
        assert node["status"]["nodeInfo"]["kubeletVersion"] == Versions().kubernetes
        base = f"/api/v1/namespaces/{st.namespace}/pods"
        created = time.monotonic()
        status, body = api.call(
            "POST",
            base,
            restricted_pod(
                "hello",
                images.TINY_IMAGE,
                ["/bin/sh", "-c", "echo hello from $(hostname) as uid $(id -u)"],
            ),
        )
        assert status == 201, body[:500]
        pod = _wait_phase(api, f"{base}/hello", {"Succeeded", "Failed"}, 120)
        to_done = time.monotonic() - created
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        status, log = api.call("GET", f"{base}/hello/log")
        assert status == 200, log[:500]
        assert log.decode().strip() == "hello from hello as uid 1000"

        # The host reaches a pod by its pod IP (the bridge is the pods' gateway).
        status, body = api.call(
            "POST",
            base,
            restricted_pod(
                "listener", images.TINY_IMAGE, ["/bin/sh", "-c", "echo ready; exec sleep 600"]
            ),
        )
        assert status == 201, body[:500]
        pod = _wait_phase(api, f"{base}/listener", {"Running"}, 120)
        pod_ip = pod["status"]["podIP"]
        assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(_record(layout)["subnet"])
        # A closed port answers with a reset from the pod's own network stack: that is the
        # host reaching the pod (a route or bridge missing would time out instead).
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((pod_ip, 9), timeout=5)

        # A notebook job of the project, with a parameter, on the node's notebook image (the
        # cluster's default there): its executed notebook comes back beside the input.
        work = tmp_path / "work"
        write_notebook(
            work / "nb.ipynb",
            notebook(
                "import os, numpy\nprint('square', x * x, 'uid', os.getuid(), numpy.__name__)",
                parameters="x = 2",
            ),
        )
        job_started = time.monotonic()
        submit = subprocess.run(
            [sys.executable, "-m", "jupyter_k8s.cli", "submit", "nb.ipynb", "-p", "x", "7"]
            + ["--wait", "--timeout", "5m"],
            cwd=work,
            env={**os.environ, "KUBECONFIG": str(cluster.user_kubeconfig)},
            capture_output=True,
            text=True,
            timeout=360,
        )
        job_seconds = time.monotonic() - job_started
        assert submit.returncode == 0, submit.stdout[-2000:] + submit.stderr[-2000:]
        (executed,) = [f for f in work.glob("nb.*.ipynb")]
        assert "square 49 uid 1000 numpy" in executed.read_text()
        print(
            f"real node: Ready {ready:.1f} s after up; pod create -> Succeeded {to_done:.1f} s; "
            f"notebook job submit -> executed notebook back {job_seconds:.1f} s"
        )
    finally:
        pids = dict(st.pids)
        cluster.down()
    assert not any(pid_alive(p) for p in pids.values())
    assert _leftovers(state, layout, mount_ns) == []
