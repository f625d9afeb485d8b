"""Notebook jobs on the real node (kubelet + containerd + runc + CNI), through the REST API of a
real Jupyter server, as users run them: the cluster's default image
(`localhost/jupyter-k8s/notebook:bookworm`), uid 1000, real cgroup limits, the kubelet's log
rotation (10 MiB) and the pod network.

- parameters, executed notebook back in "api" staging (the log) and in "shared" staging (a PVC
  the pod writes as uid 1000 under fsGroup; the written files' owner checked), and a folder the
  pod cannot write: the job fails at once naming it, nothing runs and nothing is lost silently;
- a failing cell: Failed, the executed notebook with the error back;
- cancel mid-run: Cancelled, the cells that ran back;
- a cell allocating far over the profile's memory limit: OOMKilled (the kernel's cgroup), no hang;
- an image that does not exist: ErrImagePull / ImagePullBackOff shown, failed fast;
- a 13 MiB log (rotated by the kubelet) and a > 3 MiB compressed output (held by the pod and
  fetched from its IP): both executed notebooks back whole.

One server per staging for the module; independent jobs run at the same time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, outputs_text, shared_claim

from jupyter_k8s.k8s.client import ClusterConfig, KubeClient

pytest_plugins = ("realnode_support",)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node_containerd,
    pytest.mark.asyncio,
    pytest.mark.timeout(600),
]

#: The uid and gid job pods run as (the product's default, as JupyterHub's jovyan's uid).
POD_UID = 1000
MISSING_IMAGE = "localhost/jupyter-k8s/nope:1"

PARAMS = notebook(
    "import os, numpy\n"
    "print('square', x * x, 'uid', os.getuid(), 'gid', os.getgid(), numpy.__name__)\n"
    "with open('written-by-job.txt', 'w') as f:\n    f.write('hello from the pod')",
    parameters="x = 2",
)
FAILING = notebook(
    "print('before the failure')",
    "raise ValueError('boom on purpose')",
    "print('never runs')",
)
TICKS = notebook(
    "print('first cell done')",
    "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.25)",
    "print('never runs')",
)
# numpy.ones writes every page: 1 GiB resident, far over the profile's 256Mi limit.
GREEDY = notebook(
    "print('allocating', flush=True)",
    "import numpy\na = numpy.ones(1 << 27)\nprint(a.sum())",
)
HELLO = notebook("print('hello')")
# ~13 MiB of stdout, then a pause longer than the kubelet's log check (every 10 s): the
# container log passes 10 MiB while the container runs, so the kubelet rotates it and the
# log API serves only what came after.
LOG_LINES = 13 * 1024
FIRST_LINE = "00000000 " + "x" * 1014
BIG_LOG = notebook(
    f"for i in range({LOG_LINES}):\n    print(f'{{i:08d}} ' + 'x' * 1014)",
    "import time\ntime.sleep(12)\nprint('after the flood')",
)
# 4 blobs of 1 MB random bytes, base64: ~5.3 MB that gzip shrinks to ~4 MiB (over the
# ~3 MiB a log frame takes), so the pod holds the output and the server fetches it.
BLOBS = notebook(
    "import base64, hashlib, os\n"
    "from IPython.display import display\n"
    "digest = hashlib.sha256()\n"
    "for i in range(4):\n"
    "    blob = base64.b64encode(os.urandom(1_000_000)).decode()\n"
    "    digest.update(blob.encode())\n"
    "    display({'image/png': blob}, raw=True)\n"
    "print(digest.hexdigest())",
)

PROFILES = [
    # Small requests so that several jobs fit the 2-core node at once.
    {"name": "cpu", "cpu_request": "100m", "memory_request": "128Mi", "default": True},
    {"name": "tight", "cpu_request": "100m", "memory_request": "256Mi", "memory_limit": "256Mi"},
]


def finished(job: dict[str, Any]) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


def read_output(root: Path, job: dict[str, Any]) -> dict[str, Any]:
    assert job["output_state"] == "ready", job
    return json.loads((root / job["output_path"]).read_text())


async def submit(server: ServerProcess, body: dict[str, Any]) -> str:
    _, created = await server.call("POST", "/jobs", body, expect=201)
    return created["job"]["id"]


async def run_job(
    server: ServerProcess, body: dict[str, Any], timeout: float = 120
) -> tuple[dict[str, Any], float]:
    """Submit, wait until it ended and its output was dealt with; (job, seconds)."""
    started = time.monotonic()
    job_id = await submit(server, body)
    job = await server.wait_job(job_id, finished, timeout)
    return job, time.monotonic() - started


# -- servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node-jobs")


@pytest.fixture(scope="module")
def api_server(
    work: Path, real_node_namespace: str, real_node_kubeconfig: Path
) -> Iterator[ServerProcess]:
    """A server with the default staging ("api"): notebook in a ConfigMap, output in the log
    or held by the pod."""
    root = work / "api-root"
    for name, nb in (
        ("params.ipynb", PARAMS),
        ("failing.ipynb", FAILING),
        ("ticks.ipynb", TICKS),
        ("greedy.ipynb", GREEDY),
        ("hello.ipynb", HELLO),
        ("biglog.ipynb", BIG_LOG),
        ("blobs.ipynb", BLOBS),
    ):
        write_notebook(root / name, nb)
    server = ServerProcess(
        root,
        real_node_kubeconfig,
        real_node_namespace,
        owner="alice",
        config={"profiles": PROFILES, "allowed_images": ["localhost/jupyter-k8s/*"]},
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_root(work: Path) -> Path:
    """The user's files as on a JupyterHub volume: group-owned by the pods' fsGroup gid and
    group-writable (the server, root here, is a different user than the pod's uid 1000).
    `locked/` is a folder the pod may not write (root's, 0755)."""
    root = work / "home"
    write_notebook(root / "project" / "params.ipynb", PARAMS)
    write_notebook(root / "locked" / "params.ipynb", PARAMS)
    for folder in (root, root / "project"):
        os.chown(folder, 0, POD_UID)
        folder.chmod(0o2775)  # setgid: what the pod writes keeps the folder's group
    (root / "locked").chmod(0o755)
    return root


@pytest.fixture(scope="module")
def shared_server(
    shared_root: Path,
    real_node_admin_config: ClusterConfig,
    real_node_namespace: str,
    real_node_kubeconfig: Path,
) -> Iterator[ServerProcess]:
    """A server with shared staging: a PVC (a hostPath PV on its root) the pods mount."""
    ns = real_node_namespace
    with shared_claim(real_node_admin_config, ns, shared_root, "home", f"{ns}-home") as claim:
        server = ServerProcess(
            shared_root,
            real_node_kubeconfig,
            ns,
            owner="bob",
            config={
                "profiles": PROFILES,
                "staging": "shared",
                "shared_volume": {"persistentVolumeClaim": {"claimName": claim}},
            },
        )
        server.start()
        yield server
        server.stop()


# -- tests --------------------------------------------------------------------------------------


async def test_parameters_output_back_in_both_stagings_written_as_uid_1000(
    api_server: ServerProcess, shared_server: ServerProcess, shared_root: Path
):
    body = {"notebook": "params.ipynb", "parameters": {"x": 7}}
    (api_job, api_s), (shared_job, shared_s), (locked_job, locked_s) = await asyncio.gather(
        run_job(api_server, body),
        run_job(shared_server, {**body, "notebook": "project/params.ipynb"}),
        run_job(shared_server, {**body, "notebook": "locked/params.ipynb"}),
    )
    print(
        f"\nparameters: api staging {api_s:.1f} s, shared {shared_s:.1f} s, "
        f"unwritable folder failed in {locked_s:.1f} s"
    )
    expected = f"square 49 uid {POD_UID} gid {POD_UID} numpy\n"
    assert api_job["phase"] == "Succeeded", api_job
    # [0] the parameters cell, [1] the injected one, [2] the code.
    assert outputs_text(read_output(api_server.root, api_job))[2] == [expected]

    assert shared_job["phase"] == "Succeeded", shared_job
    # The server stamps the provenance into the notebook the pod wrote (a rewrite as root
    # here): after that, the file must still be the pod's.
    await shared_server.wait_job(shared_job["id"], lambda j: j.get("provenance"), 30)
    executed = read_output(shared_root, shared_job)
    assert "jupyter_k8s" in executed["metadata"], executed["metadata"]
    assert outputs_text(executed)[2] == [expected]
    # Written in place by the pod, as uid 1000 with the fsGroup's gid, next to the notebook.
    for path in (
        shared_root / shared_job["output_path"],
        shared_root / "project/written-by-job.txt",
    ):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (POD_UID, POD_UID), (path, st)
    assert (shared_root / "project/written-by-job.txt").read_text() == "hello from the pod"

    # A folder the pod cannot write: the job fails before running anything, saying so.
    assert locked_job["phase"] == "Failed", locked_job
    assert locked_job["reason"] == "OutputNotWritable", locked_job
    assert "locked" in locked_job["message"] and "uid 1000" in locked_job["message"], locked_job
    assert not (shared_root / "locked" / "written-by-job.txt").exists()
    print(f"unwritable folder: {locked_job['message']}")


async def test_failing_cell_comes_back_with_its_error(api_server: ServerProcess):
    job, seconds = await run_job(api_server, {"notebook": "failing.ipynb"})
    print(f"\nfailing cell: {seconds:.1f} s")
    assert (job["phase"], job["reason"]) == ("Failed", "NotebookFailed"), job
    assert "ValueError: boom on purpose" in job["message"], job
    texts = outputs_text(read_output(api_server.root, job))
    assert texts[0] == ["before the failure\n"]
    assert texts[1] == ["ValueError: boom on purpose"]
    assert texts[2] == []  # never ran


async def test_cancel_mid_run_brings_back_the_cells_that_ran(api_server: ServerProcess):
    started = time.monotonic()
    job_id = await submit(api_server, {"notebook": "ticks.ipynb"})
    await api_server.wait_job(job_id, lambda j: (j.get("current_cell") or 0) >= 2, 90)
    await asyncio.sleep(2)  # some ticks printed
    await api_server.call("POST", f"/jobs/{job_id}/cancel", {}, expect=200)
    job = await api_server.wait_job(job_id, finished, 90)
    print(f"\ncancel: {time.monotonic() - started:.1f} s")
    assert job["phase"] == "Cancelled", job
    texts = outputs_text(read_output(api_server.root, job))
    assert texts[0] == ["first cell done\n"]
    ticks = "".join(texts[1]).splitlines()
    assert ticks and ticks[0] == "tick 0", texts[1]
    assert texts[2] == []


async def test_a_cell_over_the_memory_limit_is_oomkilled(api_server: ServerProcess):
    job, seconds = await run_job(api_server, {"notebook": "greedy.ipynb", "profile": "tight"})
    print(f"\nOOMKilled: {seconds:.1f} s")
    assert (job["phase"], job["reason"]) == ("Failed", "OOMKilled"), job
    assert "256Mi" in job["message"], job
    # The cgroup's OOM killer took the kernel (the biggest process), not the runner: the
    # notebook as far as it got still comes back.
    texts = outputs_text(read_output(api_server.root, job))
    assert texts[0] == ["allocating\n"], texts
    assert not any("134217728" in text for text in texts[1]), texts


async def test_an_image_that_does_not_exist_fails_fast(api_server: ServerProcess):
    started = time.monotonic()
    job_id = await submit(api_server, {"notebook": "hello.ipynb", "image": MISSING_IMAGE})
    seen: list[str] = []

    def watch(job: dict[str, Any]) -> bool:
        if job.get("reason") and job["reason"] not in seen:
            seen.append(job["reason"])
        return finished(job)

    job = await api_server.wait_job(job_id, watch, 90)
    seconds = time.monotonic() - started
    print(f"\nmissing image: failed in {seconds:.1f} s; reasons seen {seen}")
    assert "ErrImagePull" in seen, seen  # the kubelet's first answer, shown while it waits
    assert (job["phase"], job["reason"]) == ("Failed", "ImagePullBackOff"), job
    assert MISSING_IMAGE in job["message"], job
    assert seconds < 60, seen
    assert job["output_state"] == "none", job


async def pod_log(admin: KubeClient, namespace: str, job_id: str) -> str:
    """The job's pod log as the log API serves it (the kubelet's newest file only)."""
    listing = await admin.list("pods", namespace, labelSelector=f"job-name={job_id}")
    (pod,) = listing["items"]
    raw = await admin.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/log", raw=True
    )
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


async def test_a_13_mib_log_and_a_held_output_come_back_whole(
    api_server: ServerProcess, real_node_admin: KubeClient, real_node_namespace: str
):
    (log_job, log_s), (blob_job, blob_s) = await asyncio.gather(
        run_job(api_server, {"notebook": "biglog.ipynb"}, 240),
        run_job(api_server, {"notebook": "blobs.ipynb"}, 240),
    )
    print(f"\n13 MiB log: {log_s:.1f} s; held output: {blob_s:.1f} s")
    assert log_job["phase"] == "Succeeded", log_job
    texts = outputs_text(read_output(api_server.root, log_job))
    lines = "".join(texts[0]).splitlines()
    assert len(lines) == LOG_LINES
    assert lines[0] == FIRST_LINE
    assert lines[-1] == f"{LOG_LINES - 1:08d} " + "x" * 1014
    assert texts[1] == ["after the flood\n"]
    # The kubelet did rotate: the log API no longer has the flood's start.
    served = await pod_log(real_node_admin, real_node_namespace, log_job["id"])
    print(f"13 MiB log: the log API serves {len(served) / 2**20:.1f} MiB after rotation")
    assert FIRST_LINE not in served and "after the flood" in served

    assert blob_job["phase"] == "Succeeded", blob_job
    nb = read_output(api_server.root, blob_job)
    cell = nb["cells"][0]
    blobs = [o["data"]["image/png"] for o in cell["outputs"] if o["output_type"] == "display_data"]
    digest = hashlib.sha256("".join(blobs).encode()).hexdigest()
    assert len(blobs) == 4
    assert outputs_text(nb)[0][-1] == digest + "\n"
    # It came over the pod network (held by the pod), not framed in the log.
    assert '"event": "output_held"' in await pod_log(
        real_node_admin, real_node_namespace, blob_job["id"]
    )
