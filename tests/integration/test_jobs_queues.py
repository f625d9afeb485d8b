"""Queued GPU jobs with the real Kueue manager (issue 13), through a real Jupyter server's REST.

On the local cluster with Kueue (tests/integration/kueue_support.py): one fake GPU, so
ClusterQueue team-a has a GPU quota of 1; LocalQueue `gpu` in the test namespace;
WorkloadPriorityClasses low (100) and high (1000). The server runs as the shipped
ServiceAccount with the optional Kueue RBAC an operator applies (manifests/kueue-rbac.yaml and
kueue-clusterrole.yaml), and a newcomer's configuration plus one profile that names the queue.
The CLI is run against the same namespace as the same owner.

What must hold:
- three 1-GPU jobs: one runs while the others show Queued, position 1 of 2 and 2 of 2, in
  GET /jobs (and in `jupyter k8s status` / `logs --follow`); each is admitted as the one
  before ends; all three outputs come back;
- a `low` job running is preempted by a `high` one: it shows Preempted, is requeued, and
  finishes later with its output;
- a queue missing from the namespace, and a profile with a queue on a cluster without Kueue,
  are clear errors at submit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, outputs_text, user_kubeconfig

from jupyter_k8s.doctor.config import DoctorSettings
from jupyter_k8s.doctor.run import run_doctor
from jupyter_k8s.k8s.client import KubeClient
from jupyter_k8s.profiles import BUILTIN_PROFILES
from jupyter_k8s.queues.rbac import apply_kueue_rbac

pytest_plugins = ("kueue_support",)
pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

OWNER = "queued-alice"
# A newcomer's profiles (the built-in CPU one, the default) plus one that names the queue:
# one GPU, small CPU and memory requests (the test node is this machine).
GPU_PROFILE = {
    "name": "gpu",
    "display_name": "GPU (queued)",
    "gpus": 1,
    "cpu_request": "100m",
    "memory_request": "128Mi",
    "queue": "gpu",
    "queues": ["spare"],  # allowed, but no such LocalQueue in the namespace
    "priority_classes": ["low", "high"],
}
PROFILES = [BUILTIN_PROFILES[0], GPU_PROFILE]
TURN_NB = notebook(
    "import time\nprint('start', tag, flush=True)\ntime.sleep(seconds)",
    "print('tag is', tag)",
    parameters="tag = 'x'\nseconds = 1",
)


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("queues") / "work"
    write_notebook(root / "turn.ipynb", TURN_NB)
    return root


@pytest.fixture(scope="module")
def kubeconfig_path(kueue_cluster, kueue_admin_config, kueue_namespace, workspace) -> Path:
    async def grant() -> None:
        async with KubeClient(kueue_admin_config) as client:
            await apply_kueue_rbac(client, kueue_namespace)

    asyncio.run(grant())
    return user_kubeconfig(
        kueue_cluster, kueue_admin_config, kueue_namespace, workspace.parent / "user.kubeconfig"
    )


@pytest.fixture(scope="module")
def server(kubeconfig_path, kueue_namespace, workspace) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        workspace, kubeconfig_path, kueue_namespace, owner=OWNER, config={"profiles": PROFILES}
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def cli_env(kubeconfig_path, workspace) -> dict[str, str]:
    """The CLI's environment: the same kubeconfig (its context's namespace), owner, profiles."""
    config_dir = workspace.parent / "cli-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"JupyterK8s": {"owner": OWNER, "profiles": PROFILES}})
    )
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig_path),
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_CONFIG_PATH": "",
        "PYTHONUNBUFFERED": "1",
    }


def jk8s(workspace: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_k8s.cli", *args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def submit(server: ServerProcess, tag: str, seconds: float, **extra: Any) -> str:
    body = {
        "notebook": "turn.ipynb",
        "profile": "gpu",
        "parameters": {"tag": tag, "seconds": seconds},
    }
    _, created = await server.call("POST", "/jobs", {**body, **extra}, expect=201)
    job = created["job"]
    # At once, before Kueue has made its Workload: queued, never "Suspended".
    assert job["phase"] == "Pending" and job["reason"] == "Queued", job
    assert job["queue"]["queue"] == "gpu" and job["queue"]["state"] == "queued"
    return job["id"]


async def until(
    server: ServerProcess, check: Callable[[dict[str, dict]], bool], timeout: float = 120
) -> dict[str, dict]:
    """Until `check` holds of GET /jobs (by id); returns that listing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    jobs: dict[str, dict] = {}
    while loop.time() < deadline:
        _, listing = await server.call("GET", "/jobs", expect=200)
        jobs = {j["id"]: j for j in listing["jobs"]}
        if check(jobs):
            return jobs
        await asyncio.sleep(0.2)
    summary = {k: (v["phase"], v["reason"], v["message"]) for k, v in jobs.items()}
    raise TimeoutError(f"never got there; last: {json.dumps(summary, indent=1)}")


def queued_at(job: dict, position: int, pending: int) -> bool:
    queue = job.get("queue") or {}
    return (
        job["phase"] == "Pending"
        and job["reason"] == "Queued"
        and (queue.get("position"), queue.get("pending")) == (position, pending)
    )


async def test_profiles_show_the_queue(server: ServerProcess):
    _, data = await server.call("GET", "/profiles", expect=200)
    gpu = next(p for p in data["profiles"] if p["name"] == "gpu")
    assert gpu["queue"] == "gpu" and gpu["queues"] == ["gpu", "spare"]
    assert gpu["priority_class"] is None and gpu["priority_classes"] == ["low", "high"]


async def test_three_gpu_jobs_take_turns(
    server: ServerProcess, workspace: Path, cli_env: dict[str, str]
):
    # A second apart: Kueue orders a queue by priority, then by its Workloads' creation
    # time, which has a resolution of one second (ties go by uid, in no particular order).
    a = await submit(server, "a", 16)
    await asyncio.sleep(1.1)
    b = await submit(server, "b", 6)
    await asyncio.sleep(1.1)
    c = await submit(server, "c", 6)
    # The third one followed from the CLI from the start: each change of its place a line.
    follow = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jupyter_k8s.cli",
        "logs",
        "--follow",
        c,
        cwd=workspace,
        env=cli_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        jobs = await until(
            server,
            lambda j: (
                j[a]["phase"] == "Running" and queued_at(j[b], 1, 2) and queued_at(j[c], 2, 2)
            ),
        )
        assert jobs[a]["queue"]["state"] == "admitted"
        assert jobs[a]["queue"]["message"] == "Admitted by ClusterQueue team-a"
        assert jobs[b]["message"] == (
            "Queued in gpu: position 1 of 2; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"
        )
        assert jobs[c]["message"].startswith("Queued in gpu: position 2 of 2")
        usage = {u["resource"]: u for u in jobs[c]["queue"]["usage"]}
        assert (usage["nvidia.com/gpu"]["used"], usage["nvidia.com/gpu"]["quota"]) == ("1", "1")
        # The CLI's status says it in the same words.
        status = await asyncio.to_thread(jk8s, workspace, cli_env, "status", c)
        assert status.returncode == 0, status.stderr
        assert "Queued" in status.stdout and "Queued in gpu: position 2 of 2" in status.stdout

        # As each one ends, the next is admitted: b runs, c moves up.
        jobs = await until(
            server, lambda j: j[b]["phase"] == "Running" and queued_at(j[c], 1, 1), timeout=90
        )
        assert jobs[a]["phase"] == "Succeeded"
        done = await until(server, lambda j: all(finished(j[x]) for x in (a, b, c)), timeout=120)
        _, err = await asyncio.wait_for(follow.communicate(), 60)
        stderr = err.decode()
    finally:
        if follow.returncode is None:
            follow.kill()
            await follow.wait()
    for job_id, tag in ((a, "a"), (b, "b"), (c, "c")):
        job = done[job_id]
        assert job["phase"] == "Succeeded", job
        # Kueue marks the Workload Finished a moment after the Job ends.
        assert job["queue"]["state"] in ("admitted", "finished")
        executed = json.loads((workspace / job["output_path"]).read_text())
        assert outputs_text(executed)[-1] == [f"tag is {tag}\n"]
    # One GPU: never two at once, in the order they came.
    assert done[a]["finished"] <= done[b]["started"] and done[b]["finished"] <= done[c]["started"]
    lines = stderr.splitlines()
    place2 = next(i for i, line in enumerate(lines) if "position 2 of 2" in line)
    place1 = next(i for i, line in enumerate(lines) if "position 1 of 1" in line)
    assert place2 < place1, stderr


async def test_high_priority_preempts_low(server: ServerProcess, workspace: Path):
    low = await submit(server, "low", 30, priority_class="low")
    jobs = await until(server, lambda j: j[low]["phase"] == "Running" and j[low]["current_cell"])
    assert jobs[low]["queue"]["priority_class"] == "low"
    high = await submit(server, "high", 3, priority_class="high")

    seen = await until(server, lambda j: j[low]["reason"] == "Preempted", timeout=60)
    assert seen[low]["phase"] == "Pending"
    assert seen[low]["message"].startswith(
        "Preempted by a higher priority workload in ClusterQueue team-a"
    ), seen[low]
    assert seen[low]["queue"]["state"] == "preempted"
    requeued = await until(
        server, lambda j: "job requeued" in (j[low]["message"] or ""), timeout=60
    )
    assert requeued[low]["phase"] == "Pending"

    done = await until(server, lambda j: finished(j[high]) and finished(j[low]), timeout=180)
    assert done[high]["phase"] == "Succeeded", done[high]
    assert done[low]["phase"] == "Succeeded", done[low]
    # The requeued run started after the high one ended, from the beginning, and its output
    # (the whole notebook, not the stopped run's) came back.
    assert done[low]["started"] >= done[high]["finished"]
    executed = json.loads((workspace / done[low]["output_path"]).read_text())
    assert outputs_text(executed)[-2:] == [["start low\n"], ["tag is low\n"]]


async def test_a_missing_queue_is_a_clear_error(server: ServerProcess, kueue_namespace: str):
    body = {"notebook": "turn.ipynb", "profile": "gpu", "queue": "spare"}
    status, error = await server.call("POST", "/jobs", body)
    assert status == 400, error
    assert error["field"] == "queue" and error["reason"] == "NoLocalQueue"
    assert error["message"].startswith(
        f"no LocalQueue 'spare' in namespace '{kueue_namespace}' (queues here: gpu)"
    )
    status, error = await server.call("POST", "/jobs", {**body, "queue": "elsewhere"})
    assert status == 400 and error["field"] == "queue"
    assert "is not one profile 'gpu' allows; allowed: gpu, spare" in error["message"]
    status, error = await server.call(
        "POST", "/jobs", {**body, "queue": None, "priority_class": "top"}
    )
    assert status == 400 and error["field"] == "priority_class"


async def test_the_doctor_sees_kueue(kubeconfig_path: Path, kueue_namespace: str):
    settings = DoctorSettings(kubeconfig=str(kubeconfig_path), namespace=kueue_namespace)
    report = await run_doctor(settings, probes=False)
    checks = {c.id: c for c in report.checks}
    assert checks["rbac.kueue"].status == "ok" and "installed" in checks["rbac.kueue"].detail
    for target in (
        "kueue.x-k8s.io/workloads",
        "kueue.x-k8s.io/localqueues",
        "visibility.kueue.x-k8s.io/localqueues/pendingworkloads",
        "kueue.x-k8s.io/clusterqueues",
    ):
        assert checks[f"rbac.kueue.{target}"].status == "ok", checks[f"rbac.kueue.{target}"]


async def test_no_kueue_on_the_plain_cluster(dev_cluster, admin_config, namespace, tmp_path):
    """The session's cluster has no Kueue: a profile naming a queue says so at submit, and a
    job without a queue runs as ever."""
    root = tmp_path / "work"
    write_notebook(root / "turn.ipynb", TURN_NB)
    # In a thread: user_kubeconfig and the server's start run event loops and wait of their own.
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    srv = ServerProcess(root, kubeconfig, namespace, owner=OWNER, config={"profiles": PROFILES})
    await asyncio.to_thread(srv.start)
    try:
        started = time.monotonic()
        status, error = await srv.call(
            "POST", "/jobs", {"notebook": "turn.ipynb", "profile": "gpu"}
        )
        assert status == 409, error
        assert error["reason"] == "NoKueue"
        assert error["message"] == (
            "cannot put the job in queue 'gpu': this cluster has no Kueue: the kueue.x-k8s.io "
            "API is not served; ask your operator, or remove `queue` from profile 'gpu'"
        )
        assert time.monotonic() - started < 5
        _, created = await srv.call(
            "POST", "/jobs", {"notebook": "turn.ipynb", "parameters": {"tag": "plain"}}, expect=201
        )
        assert created["job"]["queue"] is None
        done = await srv.wait_job(created["job"]["id"], finished, timeout=120)
        assert done["phase"] == "Succeeded" and done["queue"] is None
    finally:
        await asyncio.to_thread(srv.stop)
