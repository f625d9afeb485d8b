"""The node agent SIGKILLed mid-job (a node that crashed), then started again: while it is
down the jobs say why (the node stopped reporting) within the control plane's node monitor
grace period; once it is back, the pods it lost are reported as Kubernetes reports them
(ContainerStatusUnknown, exit code 137, pod Failed), and each job is retried or fails as its
pod failure policy and retries say. Nothing stays Running, and nothing of the lost pods runs on.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, outputs_text, user_kubeconfig

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

#: About 10 s: 20 lines, one every half second, then a last cell.
TICKER = notebook(
    "import time\nfor i in range(20):\n    print(tag, 'line', i, flush=True)\n    time.sleep(0.5)",
    "print(tag, 'done')",
    parameters="tag = 'x'",
)
#: Quiet: a process that prints nothing outlives its dead agent (no broken pipe ends it).
SLEEPER = notebook("print('started', flush=True)", "import time\ntime.sleep(600)")
#: The node lifecycle controller checks nodes this often (its --node-monitor-period default).
NODE_MONITOR_PERIOD = 5


def _grace_seconds(dev_cluster) -> int:
    """--node-monitor-grace-period of the local cluster's controller manager."""
    args = dev_cluster.state().commands["kube-controller-manager"]
    flag = next(a for a in args if a.startswith("--node-monitor-grace-period="))
    match = re.fullmatch(r"--node-monitor-grace-period=(\d+)s", flag)
    assert match, flag
    return int(match.group(1))


def _processes_of(pod_dir: Path) -> list[int]:
    """Live processes started for the pod kept in `pod_dir` (HOME is the pod's home)."""
    marker = str(pod_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(
            v.startswith(b"HOME=") and marker in v for v in environ.split(b"\0")
        ):
            found.append(int(entry.name))
    return found


async def _job_pods(admin: KubeClient, namespace: str, job_id: str) -> list[dict]:
    selector = f"batch.kubernetes.io/job-name={job_id}"
    pods = (await admin.list("pods", namespace, labelSelector=selector))["items"]
    return sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])


async def test_node_agent_killed_mid_job_then_back(dev_cluster, admin_config, namespace, tmp_path):
    root = tmp_path / "root"
    write_notebook(root / "ticker.ipynb", TICKER)
    write_notebook(root / "sleeper.ipynb", SLEEPER)
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(root, kubeconfig, namespace, owner="node-fault")
    await asyncio.to_thread(server.start)
    grace = _grace_seconds(dev_cluster)
    agent_down = False
    try:
        jobs = {}
        for tag, body in (
            ("retried", {"notebook": "ticker.ipynb", "parameters": {"tag": "retried"}}),
            ("failed", {"notebook": "sleeper.ipynb"}),
        ):
            body["retries"] = 1 if tag == "retried" else 0
            _, created = await server.call("POST", "/jobs", body, expect=201)
            jobs[tag] = created["job"]["id"]
        for job_id in jobs.values():
            await server.wait_job(job_id, lambda j: j["phase"] == "Running" and j["current_cell"])

        async with KubeClient(admin_config) as admin:
            first = {tag: (await _job_pods(admin, namespace, j))[0] for tag, j in jobs.items()}
            pod_dirs = {
                tag: dev_cluster.node_dir / "pods" / p["metadata"]["uid"]
                for tag, p in first.items()
            }

            # The node crashes: its agent gets SIGKILL (not SIGTERM: nothing is cleaned up).
            os.killpg(dev_cluster.state().pids["node-agent"], signal.SIGKILL)
            agent_down = True
            killed_at = time.monotonic()

            # Within the grace period (+ one monitor period and a little slack), both jobs
            # say why, in Kubernetes' words; they are still Running (nobody knows better).
            seen: dict[str, dict] = {}
            limit = grace + NODE_MONITOR_PERIOD + 10
            while set(seen) != set(jobs):
                for tag, job_id in jobs.items():
                    _, job = await server.call("GET", f"/jobs/{job_id}", expect=200)
                    if job["reason"] == "NodeNotReady":
                        seen.setdefault(tag, job)
                elapsed = time.monotonic() - killed_at
                assert elapsed < limit, f"no NodeNotReady after {elapsed:.0f} s: {job}"
                await asyncio.sleep(0.5)
            reported_after = time.monotonic() - killed_at
            for job in seen.values():
                assert job["phase"] == "Running", job
                assert job["message"].startswith("Node is not ready: node dev-node stopped"), job
                # the tolerations the API server's DefaultTolerationSeconds admission added
                assert "evicts the pod 300 s after the node went down" in job["message"], job
            node = await admin.get("nodes", dev_cluster.state().node_name)
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "Unknown", ready

            # The lost container of the quiet notebook still runs, unseen: a restarted agent
            # must not let it run on next to what comes next.
            assert _processes_of(pod_dirs["failed"]), "the sleeper's processes died by themselves"

            # The agent comes back (as after a reboot): the node is Ready again, and the pods
            # it lost are reported Failed with the kubelet's reason for a lost container.
            await asyncio.to_thread(dev_cluster.start_component, "node-agent")
            agent_down = False
            back_at = time.monotonic()
            for tag, old in first.items():
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                while True:
                    pod = await admin.get("pods", old["metadata"]["name"], namespace)
                    if pod["status"]["phase"] == "Failed":
                        break
                    assert loop.time() < deadline, pod["status"]
                    await asyncio.sleep(0.5)
                (runner,) = pod["status"]["containerStatuses"]
                term = runner["state"]["terminated"]
                assert (term["reason"], term["exitCode"]) == ("ContainerStatusUnknown", 137), term
                # nothing of the lost instance runs on next to a retry
                assert _processes_of(pod_dirs[tag]) == [], tag

            # retries=1: the Job controller ran it again; the notebook ran once, whole.
            done = await server.wait_job(
                jobs["retried"],
                lambda j: j["phase"] in ("Succeeded", "Failed") and j["output_state"] != "pending",
                120,
            )
            assert done["phase"] == "Succeeded" and done["output_state"] == "ready", done
            executed = json.loads((root / done["output_path"]).read_text())
            texts = ["".join(t) for t in outputs_text(executed)]
            expected = ["".join(f"retried line {i}\n" for i in range(20)), "retried done\n"]
            assert texts[-2:] == expected, texts
            pods = await _job_pods(admin, namespace, jobs["retried"])
            assert [p["status"]["phase"] for p in pods] == ["Failed", "Succeeded"]

            # retries=0: the job fails, and says why.
            failed = await server.wait_job(jobs["failed"], lambda j: j["phase"] == "Failed", 60)
            assert failed["reason"] == "ContainerStatusUnknown", failed
            assert "container was lost" in failed["message"], failed
            settled_after = time.monotonic() - back_at

        print(
            f"\nnode agent SIGKILLed: NodeNotReady on both jobs after {reported_after:.1f} s "
            f"(grace {grace} s); after its restart both jobs settled in {settled_after:.1f} s"
        )
    finally:
        if agent_down:
            await asyncio.to_thread(dev_cluster.start_component, "node-agent")
        await asyncio.to_thread(server.stop)
