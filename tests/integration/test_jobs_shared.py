"""Shared-volume staging: job pods and kernel pods mount the server's root (a PVC) at the same
path; jobs and kernels run in their notebook's folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, outputs_text, shared_claim, user_kubeconfig
from kernels_support import Channels, api, wait_no_kernel_pods

from jupyter_k8s.k8s.client import ClusterConfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

DATA_NB = notebook(
    "import csv\nrows = list(csv.reader(open('data/rows.csv')))\nprint(len(rows) * factor)",
    "open('written-by-job.txt', 'w').write('hello from the pod')",
    parameters="factor = 1",
)


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shared") / "home"
    write_notebook(root / "project" / "analysis.ipynb", DATA_NB)
    (root / "project" / "data").mkdir()
    (root / "project" / "data" / "rows.csv").write_text("a,1\nb,2\nc,3\n")
    return root


@pytest.fixture(scope="module")
def claim(admin_config: ClusterConfig, namespace: str, shared_root: Path) -> Iterator[str]:
    with shared_claim(admin_config, namespace, shared_root, "home", f"{namespace}-home") as name:
        yield name


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, shared_root, claim) -> Iterator[ServerProcess]:
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, shared_root.parent / "user.kubeconfig"
    )
    srv = ServerProcess(
        shared_root,
        kubeconfig,
        namespace,
        config={
            "staging": "shared",
            "shared_volume": {"persistentVolumeClaim": {"claimName": claim}},
            "profiles": [{"name": "small", "cpu_request": "100m", "memory_request": "128Mi"}],
        },
    )
    srv.start()
    yield srv
    srv.stop()


async def test_shared_volume_relative_paths_and_output_in_place(
    server: ServerProcess, shared_root: Path
):
    _, created = await server.call(
        "POST",
        "/jobs",
        {"notebook": "project/analysis.ipynb", "parameters": {"factor": 10}},
        expect=201,
    )
    done = await server.wait_job(
        created["job"]["id"],
        lambda j: j["phase"] in ("Succeeded", "Failed") and j["output_state"] != "pending",
    )
    assert done["phase"] == "Succeeded", done
    assert done["output_state"] == "ready"
    executed = json.loads((shared_root / done["output_path"]).read_text())
    assert outputs_text(executed)[2] == ["30\n"]  # read data/rows.csv by its relative path
    # The job wrote next to the notebook, in the user's files.
    assert (shared_root / "project" / "written-by-job.txt").read_text() == "hello from the pod"


async def test_kernel_starts_in_its_notebooks_folder_with_the_users_files(
    server: ServerProcess, shared_root: Path, admin, namespace: str
):
    # As JupyterLab opens a notebook with a remote kernel: a session for its path.
    _, session = await api(
        server,
        "POST",
        "/api/sessions",
        {
            "path": "project/analysis.ipynb",
            "name": "analysis.ipynb",
            "type": "notebook",
            "kernel": {"name": "k8s-small"},
        },
        expect=201,
    )
    kernel_id = session["kernel"]["id"]
    try:
        _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
        assert status["notebook"] == "project/analysis.ipynb", status
        async with Channels(server, kernel_id) as ch:
            out = await ch.execute(
                "import os\n"
                "print(os.getcwd())\n"
                "print(len(open('data/rows.csv').read().splitlines()))\n"
                "open('written-by-kernel.txt', 'w').write('hello from the kernel pod')"
            )
        assert out["status"] == "ok", out
        cwd, rows = out["stdout"].split()
        assert cwd == str(shared_root.resolve() / "project"), out  # noqa: ASYNC240
        assert rows == "3"
        # Written next to the notebook, in the user's files.
        written = shared_root / "project" / "written-by-kernel.txt"
        assert written.read_text() == "hello from the kernel pod"
    finally:
        await api(server, "DELETE", f"/api/sessions/{session['id']}", expect=204)
    await wait_no_kernel_pods(admin, namespace)
