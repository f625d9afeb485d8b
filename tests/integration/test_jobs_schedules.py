"""Schedules on the local cluster: a CronJob runs the notebook while no Jupyter server runs.

API staging (the default configuration): a schedule every minute is created through the REST
API and the server is stopped; the CronJob runs twice with no server (two Jobs succeeded, seen
with the admin client); the server started again lists both runs as the user's jobs and
collects both executed notebooks under its root, each with its own path and its provenance
block. Pause: `suspend` is set and no run starts at the next minute boundary. Run now makes a
run of a paused schedule. Delete removes the CronJob and its input ConfigMap and leaves the
outputs. Shared staging: a run while the server is down writes its notebook in place; the
server started again adds the provenance stamp.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, shared_claim, user_kubeconfig

from jupyter_k8s.k8s.client import ClusterConfig, KubeClient, NotFound

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

DAILY_NB = notebook("print('report for', day, flush=True)", parameters="day = 'monday'")
EVERY_MINUTE = "* * * * *"


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


async def runs_of(admin: KubeClient, namespace: str, schedule: str) -> list[dict[str, Any]]:
    """The schedule's Jobs as the cluster has them (owned by its CronJob)."""
    listing = await admin.list("jobs", namespace)
    return [
        j
        for j in listing.get("items", [])
        if any(
            r.get("kind") == "CronJob" and r.get("name") == schedule
            for r in j["metadata"].get("ownerReferences") or []
        )
    ]


async def wait_runs_succeeded(
    admin_config: ClusterConfig, namespace: str, schedule: str, count: int, timeout: float
) -> list[str]:
    """Until `count` of the schedule's Jobs succeeded (the server is down: the admin looks)."""
    deadline = time.monotonic() + timeout
    async with KubeClient(admin_config) as admin:
        while True:
            runs = await runs_of(admin, namespace, schedule)
            done = sorted(
                j["metadata"]["name"] for j in runs if (j.get("status") or {}).get("succeeded")
            )
            if len(done) >= count:
                return done[:count]
            if time.monotonic() > deadline:
                states = {j["metadata"]["name"]: j.get("status") for j in runs}
                raise TimeoutError(f"{len(done)} of {count} runs succeeded: {states}")
            await asyncio.sleep(2)


def provenance_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())["metadata"]["jupyter_k8s"]


def injected(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    cell = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
    return "".join(cell["source"])


# -- API staging ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schedules") / "work"
    write_notebook(root / "reports" / "daily.ipynb", DAILY_NB)
    return root


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, workspace) -> Iterator[ServerProcess]:
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, workspace.parent / "user.kubeconfig"
    )
    srv = ServerProcess(workspace, kubeconfig, namespace)  # the default configuration
    srv.start()
    yield srv
    srv.stop()


async def test_bad_schedules_are_refused(server: ServerProcess):
    body = {"notebook": "reports/daily.ipynb", "cron": "0 25 * * *"}
    status, answer = await server.call("POST", "/schedules", body)
    assert status == 400 and answer["field"] == "cron" and "bad hour" in answer["message"]
    body = {"notebook": "reports/daily.ipynb", "cron": "@daily", "time_zone": "Mars/Olympus"}
    status, answer = await server.call("POST", "/schedules", body)
    assert status == 400 and answer["field"] == "time_zone", answer
    status, answer = await server.call("GET", "/schedules/sc-nothing-abc123")
    assert status == 404


async def test_a_schedule_runs_while_the_server_is_stopped(
    server: ServerProcess, workspace: Path, admin_config: ClusterConfig, namespace: str
):
    body = {
        "notebook": "reports/daily.ipynb",
        "parameters": {"day": "scheduled"},
        "cron": EVERY_MINUTE,
        "time_zone": "Europe/Paris",
    }
    _, created = await server.call("POST", "/schedules", body, expect=201)
    schedule = created["schedule"]
    sid = schedule["id"]
    assert schedule["cron"] == EVERY_MINUTE and schedule["time_zone"] == "Europe/Paris"
    assert not schedule["suspended"] and schedule["next_run"], schedule
    _, listed = await server.call("GET", "/schedules", expect=200)
    assert sid in [s["id"] for s in listed["schedules"]]

    # No server: the CronJob runs the notebook twice by itself.
    server.stop()
    runs = await wait_runs_succeeded(admin_config, namespace, sid, 2, timeout=240)

    # The server again: both runs are the user's jobs, their outputs collected on start.
    server.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while True:
        _, page = await server.call("GET", "/jobs?limit=1000", expect=200)
        mine = {j["id"]: j for j in page["jobs"] if j["id"] in runs}
        if len(mine) == 2 and all(j["output_state"] == "ready" for j in mine.values()):
            break
        assert loop.time() < deadline, f"runs {runs} not collected: {mine}"
        await asyncio.sleep(1)
    for run in runs:
        job = mine[run]
        assert job["schedule"] == sid and job["phase"] == "Succeeded", job
        assert job["output_path"] == f"reports/daily.{run}.ipynb"  # each run its own
        output = workspace / job["output_path"]
        assert "day = 'scheduled'" in injected(output) or 'day = "scheduled"' in injected(output)
        stamp = provenance_of(output)
        assert stamp["job_id"] == run and stamp["outcome"] == "Succeeded", stamp
        assert stamp["parameters"] == {"day": "scheduled"} and stamp["image_digest"]
    _, shown = await server.call("GET", f"/schedules/{sid}", expect=200)
    assert set(runs) <= set(shown["runs"]) and shown["last_schedule"], shown

    # Pause: suspended, and no run starts at the next minute boundary.
    _, paused = await server.call("PATCH", f"/schedules/{sid}", {"suspend": True}, expect=200)
    assert paused["suspended"] and paused["next_run"] is None, paused
    async with KubeClient(admin_config) as admin:
        cronjob = await admin.get("cronjobs", sid, namespace)
        assert cronjob["spec"]["suspend"] is True
        before = {j["metadata"]["name"] for j in await runs_of(admin, namespace, sid)}
        now = datetime.now(UTC)
        await asyncio.sleep(60 - now.second + 15)  # past the next boundary, with slack
        after = {j["metadata"]["name"] for j in await runs_of(admin, namespace, sid)}
        assert after == before, f"runs started while paused: {after - before}"

    # Run now, paused as it is: an ordinary run, collected as the others.
    _, started = await server.call("POST", f"/schedules/{sid}/run", expect=201)
    manual = started["job"]
    assert manual["id"].startswith(f"{sid}-") and manual["schedule"] == sid, manual
    done = await server.wait_job(manual["id"], finished, timeout=120)
    assert done["phase"] == "Succeeded" and done["output_state"] == "ready", done
    assert done["output_path"] == f"reports/daily.{manual['id']}.ipynb"
    assert provenance_of(workspace / done["output_path"])["job_id"] == manual["id"]

    # Delete: the CronJob and its input go; the executed notebooks stay.
    await server.call("DELETE", f"/schedules/{sid}", expect=204)
    async with KubeClient(admin_config) as admin:
        for resource, name in (("cronjobs", sid), ("configmaps", f"{sid}-input")):
            for _ in range(50):
                try:
                    await admin.get(resource, name, namespace)
                except NotFound:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"{resource}/{name} is still there")
    await server.call("GET", f"/schedules/{sid}", expect=404)
    for run in [*runs, manual["id"]]:
        assert (workspace / "reports" / f"daily.{run}.ipynb").is_file()


# -- shared staging -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schedules-shared") / "home"
    write_notebook(root / "daily.ipynb", DAILY_NB)
    return root


@pytest.fixture(scope="module")
def shared_server(
    dev_cluster, admin_config: ClusterConfig, namespace: str, shared_root: Path
) -> Iterator[ServerProcess]:
    """A server whose root is a PersistentVolume bound to the claim "home" (as
    test_jobs_shared.py sets it up), mounted by the job pods at the same path."""
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, shared_root.parent / "user.kubeconfig"
    )
    srv = ServerProcess(
        shared_root,
        kubeconfig,
        namespace,
        owner="bob",
        config={
            "staging": "shared",
            "shared_volume": {"persistentVolumeClaim": {"claimName": "home"}},
        },
    )
    with shared_claim(admin_config, namespace, shared_root, "home", f"{namespace}-sched-home"):
        srv.start()
        yield srv
        srv.stop()


async def test_shared_staging_runs_write_in_place_without_the_server(
    shared_server: ServerProcess, shared_root: Path, admin_config: ClusterConfig, namespace: str
):
    body = {"notebook": "daily.ipynb", "parameters": {"day": "shared"}, "cron": EVERY_MINUTE}
    _, created = await shared_server.call("POST", "/schedules", body, expect=201)
    sid = created["schedule"]["id"]
    shared_server.stop()
    (run,) = await wait_runs_succeeded(admin_config, namespace, sid, 1, timeout=150)
    # Written by the pod itself, at its own path, while no server ran.
    output = shared_root / f"daily.{run}.ipynb"
    assert output.is_file() and "shared" in injected(output)
    shared_server.start()
    try:
        done = await shared_server.wait_job(run, lambda j: j["provenance"] is not None, 60)
        assert done["schedule"] == sid and done["output_path"] == f"daily.{run}.ipynb", done
        assert provenance_of(output)["job_id"] == run  # the server stamped it in place
    finally:
        await shared_server.call("DELETE", f"/schedules/{sid}", expect=204)
    assert output.is_file()


async def test_shared_staging_sweep_indexes_are_stamped_in_place(
    shared_server: ServerProcess, shared_root: Path
):
    """Not a schedule, but the same stamp in place: each index's notebook gets its own block."""
    body = {"notebook": "daily.ipynb", "sweep": {"mode": "zip", "parameters": {"day": ["a", "b"]}}}
    _, created = await shared_server.call("POST", "/jobs", body, expect=201)
    job_id = created["job"]["id"]
    done = await shared_server.wait_job(job_id, finished, timeout=120)
    assert done["phase"] == "Succeeded", done
    deadline = asyncio.get_running_loop().time() + 30
    for index in done["sweep"]["indexes"]:
        output = shared_root / index["output_path"]
        while "jupyter_k8s" not in json.loads(output.read_text())["metadata"]:
            assert asyncio.get_running_loop().time() < deadline, f"{output} not stamped"
            await asyncio.sleep(0.5)
        stamp = provenance_of(output)
        assert stamp["job_id"] == job_id and stamp["sweep_index"] == index["index"], stamp
        assert stamp["parameters"] == index["parameters"] and stamp["outcome"] == "Succeeded"
