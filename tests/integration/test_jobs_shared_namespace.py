"""One namespace shared by several users: what the server still guarantees (issue 10).

One shared namespace is one trust domain (docs/operators.md#trust): anyone holding the
Role can write labels and annotations. What these tests pin down is that nothing the server
reads back is trusted further than that: names whose owner labels once collided stay apart,
a Job forged with a victim's labels and annotations never gets a file written outside its
own output path, and a cancelled job reruns to completion.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

# Before owner labels were collision-free, the second was the first's label (CVE-2020-15110).
USER_A = "user-a@example.com"
LOOKALIKE = "user-a-example.com-42788843"
STARTUP = ".ipython/profile_default/startup/0.py"

HELLO = notebook("print('hello from', who)", parameters="who = 'nobody'")
SLOW = notebook("print('started', flush=True)", "import time\ntime.sleep(60)", "print('end')")


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] not in (
        "pending",
    )


@pytest.fixture(scope="module")
def kubeconfig(dev_cluster, admin_config, namespace, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shared-ns") / "kubeconfig"
    return user_kubeconfig(dev_cluster, admin_config, namespace, path)


def _server(kubeconfig: Path, namespace: str, root: Path, owner: str) -> ServerProcess:
    write_notebook(root / "hello.ipynb", HELLO)
    write_notebook(root / "slow.ipynb", SLOW)
    srv = ServerProcess(root, kubeconfig, namespace, owner=owner)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def servers(kubeconfig, namespace, tmp_path_factory) -> Iterator[tuple[ServerProcess, ...]]:
    a = _server(kubeconfig, namespace, tmp_path_factory.mktemp("a") / "root", USER_A)
    b = _server(kubeconfig, namespace, tmp_path_factory.mktemp("b") / "root", LOOKALIKE)
    yield a, b
    a.stop()
    b.stop()


async def _ids(server: ServerProcess) -> set[str]:
    _, listing = await server.call("GET", "/jobs", expect=200)
    return {j["id"] for j in listing["jobs"]}


async def test_lookalike_names_see_only_their_own_jobs(servers):
    a, b = servers
    _, ja = await a.call("POST", "/jobs", {"notebook": "hello.ipynb"}, expect=201)
    _, jb = await b.call("POST", "/jobs", {"notebook": "hello.ipynb"}, expect=201)
    ida, idb = ja["job"]["id"], jb["job"]["id"]
    assert await _ids(a) >= {ida} and idb not in await _ids(a)
    assert await _ids(b) >= {idb} and ida not in await _ids(b)
    status, _ = await b.call("GET", f"/jobs/{ida}")
    assert status == 404
    done = await a.wait_job(ida, finished)
    assert done["phase"] == "Succeeded" and done["output_state"] == "ready", done


async def test_a_forged_job_never_writes_outside_its_own_output(
    servers, admin: KubeClient, namespace: str
):
    """Another identity copies user-a's Job with every label and annotation, and points its
    output annotation at an IPython startup file of user-a's root: nothing is written."""
    a, _ = servers
    _, created = await a.call(
        "POST", "/jobs", {"notebook": "hello.ipynb", "parameters": {"who": "a"}}, expect=201
    )
    real = await admin.get("jobs", created["job"]["id"], namespace)
    forged = _forge(real, name=real["metadata"]["name"][:-6] + "zzzzzz")
    forged["metadata"]["annotations"]["jupyter-k8s.io/output"] = STARTUP
    await admin.create("jobs", forged, namespace)
    await _until_seen(a, forged["metadata"]["name"])
    done = await a.wait_job(forged["metadata"]["name"], finished, timeout=90)
    assert done["phase"] == "Succeeded", done  # it ran: only its output is refused
    assert done["output_state"] == "error" and "not its own" in done["output_error"], done
    await asyncio.sleep(1)
    assert not (a.root / STARTUP).exists()
    # The real job's output came back where it belongs.
    real_done = await a.wait_job(created["job"]["id"], finished)
    assert (a.root / real_done["output_path"]).is_file()
    status, body = await a.call("GET", f"/jobs/{forged['metadata']['name']}/output")
    assert status in (403, 404) and STARTUP not in json.dumps(body)


async def test_a_job_labelled_for_a_user_by_someone_else_is_not_theirs(
    servers, admin: KubeClient, namespace: str
):
    """The owner label alone (what a lookalike or a forger can match) is not ownership."""
    a, _ = servers
    _, created = await a.call("POST", "/jobs", {"notebook": "hello.ipynb"}, expect=201)
    real = await admin.get("jobs", created["job"]["id"], namespace)
    forged = _forge(real, name=real["metadata"]["name"][:-6] + "yyyyyy")
    forged["metadata"]["annotations"]["jupyter-k8s.io/username"] = "mallory"
    await admin.create("jobs", forged, namespace)
    await asyncio.sleep(2)  # the server's watch has seen it
    assert forged["metadata"]["name"] not in await _ids(a)
    status, _ = await a.call("DELETE", f"/jobs/{forged['metadata']['name']}")
    assert status == 404
    assert await admin.get("jobs", forged["metadata"]["name"], namespace)


async def test_cancel_then_rerun_runs_to_completion(servers):
    a, _ = servers
    _, created = await a.call(
        "POST", "/jobs", {"notebook": "slow.ipynb", "timeout_seconds": 600}, expect=201
    )
    job_id = created["job"]["id"]
    await a.wait_job(job_id, lambda j: (j["current_cell"] or 0) >= 2, 60)
    await a.call("POST", f"/jobs/{job_id}/cancel", expect=200)
    cancelled = await a.wait_job(job_id, finished, 60)
    assert cancelled["phase"] == "Cancelled", cancelled
    _, rerun = await a.call("POST", f"/jobs/{job_id}/rerun", {}, expect=201)
    again = rerun["job"]["id"]
    # Past the cancel's 1-second deadline, and past the first cell: it keeps running.
    await a.wait_job(again, lambda j: (j["current_cell"] or 0) >= 2, 60)
    await asyncio.sleep(3)
    _, job = await a.call("GET", f"/jobs/{again}", expect=200)
    assert job["phase"] == "Running", job
    await a.call("POST", f"/jobs/{again}/cancel", expect=200)


async def _until_seen(server: ServerProcess, job_id: str, timeout: float = 10) -> None:
    """Until the server's watch cache has the Job (a create is not seen at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        status, _ = await server.call("GET", f"/jobs/{job_id}")
        if status == 200:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{job_id} never showed up")


def _forge(job: dict, name: str) -> dict:
    """A copy of a Job as another identity would create it: same labels, annotations and pod
    template (so the same runner and input), minus what the API server generates."""
    forged = copy.deepcopy(job)
    meta = forged["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        meta.pop(key, None)
    meta["name"] = name
    for key in ("jupyter-k8s.io/output-state", "jupyter-k8s.io/output-error"):
        meta.get("annotations", {}).pop(key, None)
    spec = forged["spec"]
    spec.pop("selector", None)
    spec["suspend"] = False
    spec.pop("activeDeadlineSeconds", None)
    labels = spec["template"]["metadata"].get("labels") or {}
    for key in list(labels):
        if "controller-uid" in key or key.endswith("job-name"):
            labels.pop(key)
    forged.pop("status", None)
    return forged
