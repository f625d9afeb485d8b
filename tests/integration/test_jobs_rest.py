"""Notebook jobs through the REST API of a real Jupyter server, on the local cluster.

The server runs as the least-privileged ServiceAccount of the test namespace.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import papermill
import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, outputs_text, user_kubeconfig

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

PARAMS_NB = notebook("print(a * 2, b)", "a + 1", parameters="a = 1\nb = 'x'")
FAILING_NB = notebook(
    "x = 40", "print('before', x)", "raise ValueError('bad row 17')", "print('never')"
)
TICKER_NB = notebook(
    "import time\nfor i in range(12):\n    print('line', i, flush=True)\n    time.sleep(0.5)"
)
SLOW_NB = notebook("print('first cell done')", "import time\ntime.sleep(60)", "print('never')")


# Small requests: the test node has as many CPUs as this machine (2 in CI) and 1 GPU.
PROFILES = [
    {"name": "small", "cpu_request": "100m", "memory_request": "128Mi", "default": True},
    {"name": "two-gpus", "cpu_request": "100m", "memory_request": "128Mi", "gpus": 2},
]


EVENT_FIELDS = {"time", "type", "reason", "message", "object", "name", "container", "count"}


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rest") / "work"
    write_notebook(root / "params.ipynb", PARAMS_NB)
    write_notebook(root / "sub" / "failing.ipynb", FAILING_NB)
    write_notebook(root / "ticker.ipynb", TICKER_NB)
    write_notebook(root / "slow.ipynb", SLOW_NB)
    return root


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, workspace) -> Iterator[ServerProcess]:
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, workspace.parent / "user.kubeconfig"
    )
    srv = ServerProcess(workspace, kubeconfig, namespace, config={"profiles": PROFILES})
    srv.start()
    yield srv
    srv.stop()


async def test_submit_with_parameters_matches_local_papermill(
    server: ServerProcess, workspace: Path, tmp_path: Path
):
    started = time.monotonic()
    _, created = await server.call(
        "POST", "/jobs", {"notebook": "params.ipynb", "parameters": {"a": 5, "b": "y"}}, expect=201
    )
    assert time.monotonic() - started < 5
    job = created["job"]
    assert job["phase"] == "Pending" and job["parameters"] == {"a": 5, "b": "y"}
    done = await server.wait_job(job["id"], finished)
    assert done["phase"] == "Succeeded", done
    assert done["output_state"] == "ready"
    assert done["current_cell"] == done["total_cells"]

    executed = json.loads((workspace / done["output_path"]).read_text())
    injected = [
        c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    assert len(injected) == 1 and "a = 5" in "".join(injected[0]["source"])
    local = tmp_path / "local.ipynb"
    papermill.execute_notebook(
        str(workspace / "params.ipynb"),
        str(local),
        parameters={"a": 5, "b": "y"},
        kernel_name="python3",
        progress_bar=False,
    )
    assert outputs_text(executed) == outputs_text(json.loads(local.read_text()))
    assert outputs_text(executed)[2:] == [["10 y\n"], ["6"]]

    # The same executed notebook through the output endpoint, and listed with a filter.
    _, data = await server.call("GET", f"/jobs/{job['id']}/output", expect=200)
    assert json.loads(data) == executed
    _, listing = await server.call(
        "GET", "/jobs?notebook=params.ipynb&status=succeeded", expect=200
    )
    assert job["id"] in [j["id"] for j in listing["jobs"]]


async def test_failing_cell(server: ServerProcess, workspace: Path):
    _, created = await server.call("POST", "/jobs", {"notebook": "sub/failing.ipynb"}, expect=201)
    done = await server.wait_job(created["job"]["id"], finished)
    assert done["phase"] == "Failed"
    assert "ValueError" in done["message"], done
    executed = json.loads((workspace / done["output_path"]).read_text())
    texts = outputs_text(executed)
    assert texts[1] == ["before 40\n"]
    assert texts[2] == ["ValueError: bad row 17"]
    assert texts[3] == []  # never ran


async def test_events_timeline(server: ServerProcess):
    _, created = await server.call("POST", "/jobs", {"notebook": "params.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    done = await server.wait_job(job_id, finished)
    assert done["phase"] == "Succeeded", done

    # The Job controller's Completed comes with (or just after) the Complete condition.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        _, answer = await server.call("GET", f"/jobs/{job_id}/events", expect=200)
        events = answer["events"]
        if any(e["reason"] == "Completed" for e in events) or loop.time() > deadline:
            break
        await asyncio.sleep(0.3)

    def index(obj: str, reason: str) -> int:
        found = [i for i, e in enumerate(events) if (e["object"], e["reason"]) == (obj, reason)]
        assert found, f"no {reason} about a {obj} in {events}"
        return found[0]

    scheduled, started = index("Pod", "Scheduled"), index("Pod", "Started")
    completed = index("Job", "Completed")
    assert scheduled < started < completed, events
    assert index("Pod", "Pulled") < index("Pod", "Created") < started
    assert index("Job", "SuccessfulCreate") < started
    (pod,) = {e["name"] for e in events if e["object"] == "Pod"}
    assert pod.startswith(f"{job_id}-")
    assert {e["name"] for e in events if e["object"] == "Job"} == {job_id}
    by_reason = {e["reason"]: e for e in events}
    assert by_reason["Created"]["container"] == "runner"
    assert by_reason["Started"]["message"] == "Container started"
    assert by_reason["Completed"]["message"] == "Job completed"
    assert by_reason["SuccessfulCreate"]["message"] == f"Created pod: {pod}"
    assert "Successfully assigned " in by_reason["Scheduled"]["message"]
    for e in events:
        assert set(e) == EVENT_FIELDS
        assert e["type"] in ("Normal", "Warning") and e["count"] >= 1 and e["time"]
    times = [e["time"] for e in events]
    assert [t[:19] for t in times] == sorted(t[:19] for t in times)  # oldest first

    status, body = await server.call("GET", "/jobs/nb-no-such-job-x1y2z3/events")
    assert status == 404 and body["reason"] and "nb-no-such-job-x1y2z3" in body["message"]


async def test_unschedulable_gpu_job_cancel_leaves_nothing(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    _, created = await server.call(
        "POST", "/jobs", {"notebook": "params.ipynb", "profile": "two-gpus"}, expect=201
    )
    pending = created["job"]["id"]
    info = await server.wait_job(pending, lambda j: j["reason"] == "Unschedulable", 30)
    assert info["phase"] == "Pending"
    assert "Insufficient nvidia.com/gpu" in info["message"]
    await server.call("POST", f"/jobs/{pending}/cancel", expect=200)
    info = await server.wait_job(pending, lambda j: j["phase"] == "Cancelled", 30)
    await server.call("DELETE", f"/jobs/{pending}", expect=204)

    async def nothing_left() -> bool:
        sel = f"batch.kubernetes.io/job-name={pending}"
        pods = await admin.list("pods", namespace, labelSelector=sel)
        cms = await admin.list("configmaps", namespace)
        secrets = await admin.list("secrets", namespace)
        jobs = await admin.list("jobs", namespace)
        return not (
            pods["items"]
            or any(pending in c["metadata"]["name"] for c in cms["items"])
            or any(pending in s["metadata"]["name"] for s in secrets["items"])
            or any(j["metadata"]["name"] == pending for j in jobs["items"])
        )

    from jupyter_k8s.k8s.client import wait_for

    await wait_for(nothing_left, 60, what="the job's objects to be gone")


async def test_follow_logs_live(server: ServerProcess):
    _, created = await server.call("POST", "/jobs", {"notebook": "ticker.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    await server.wait_job(job_id, lambda j: j["phase"] == "Running", 60)
    import aiohttp

    arrivals: list[tuple[float, str]] = []
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"{server.url}/jupyter-k8s/jobs/{job_id}/logs?follow=1", headers=server.headers
        ) as resp,
    ):
        assert resp.status == 200
        async for raw in resp.content:
            line = raw.decode()
            if line.startswith("line "):
                arrivals.append((time.monotonic(), line.strip()))
    lines = [text for _, text in arrivals]
    assert lines[-1] == "line 11"
    # Lines printed every 0.5 s arrive as they are printed: no gap much above 0.5 s between
    # consecutive lines received while following (so each within 1 s of being printed).
    live = arrivals[-6:]
    gaps = [b[0] - a[0] for a, b in zip(live, live[1:], strict=False)]
    assert max(gaps) < 1.0, gaps
    await server.wait_job(job_id, finished)


async def test_cancel_keeps_partial_notebook(server: ServerProcess, workspace: Path):
    _, created = await server.call("POST", "/jobs", {"notebook": "slow.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    # Cell 2 of 3 (no parameters cell, nothing injected) is the long sleep.
    await server.wait_job(job_id, lambda j: (j["current_cell"] or 0) >= 2, 60)
    await server.call("POST", f"/jobs/{job_id}/cancel", expect=200)
    done = await server.wait_job(job_id, finished, 60)
    assert done["phase"] == "Cancelled", done
    assert done["output_state"] == "ready", done
    texts = outputs_text(json.loads((workspace / done["output_path"]).read_text()))
    assert texts[0] == ["first cell done\n"]
    assert texts[2] == []


async def test_server_restart_while_job_runs(server: ServerProcess, workspace: Path):
    _, created = await server.call("POST", "/jobs", {"notebook": "ticker.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    await server.wait_job(job_id, lambda j: j["phase"] == "Running", 60)
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(1)
    await asyncio.to_thread(server.start)
    _, listing = await server.call("GET", "/jobs", expect=200)
    assert job_id in [j["id"] for j in listing["jobs"]]
    done = await server.wait_job(job_id, finished, 90)
    assert done["phase"] == "Succeeded"
    assert done["output_state"] == "ready"
    assert (workspace / done["output_path"]).is_file()


async def test_bad_image_fails_fast_with_the_reason(server: ServerProcess):
    started = time.monotonic()
    _, created = await server.call(
        "POST",
        "/jobs",
        {"notebook": "params.ipynb", "image": "registry.invalid/team/nb:1"},
        expect=201,
    )
    done = await server.wait_job(created["job"]["id"], lambda j: j["phase"] == "Failed", 60)
    assert done["reason"] in ("ImagePullBackOff", "ErrImagePull"), done
    assert "registry.invalid" in done["message"]
    assert time.monotonic() - started < 30  # not left Pending until some deadline


async def test_evicted_pod_is_retried_not_failed(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    _, created = await server.call("POST", "/jobs", {"notebook": "ticker.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    await server.wait_job(job_id, lambda j: j["phase"] == "Running", 60)
    pods = await admin.list(
        "pods", namespace, labelSelector=f"batch.kubernetes.io/job-name={job_id}"
    )
    (first,) = pods["items"]
    # The Eviction API, as a node drain or the cluster autoscaler uses it.
    await admin.create(
        "pods",
        {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": first["metadata"]["name"], "namespace": namespace},
        },
        namespace,
        sub_of=first["metadata"]["name"],
        sub="eviction",
    )
    done = await server.wait_job(job_id, finished, 120)
    assert done["phase"] == "Succeeded", done  # a new pod ran it again
    from jupyter_k8s.k8s.client import wait_for

    async def counted() -> dict | None:
        job = await admin.get("jobs", job_id, namespace)
        return job["status"] if job["status"].get("succeeded") == 1 else None

    status = await wait_for(counted, 30, what="the job controller to count the success")
    # The podFailurePolicy's Ignore rule: the evicted pod doesn't count as a failure.
    assert status.get("failed", 0) == 0
