"""An image without papermill: the job fails at once, its status names the package.

The process node runs a pod's command with the pod's PATH, so a profile whose env puts a bare
interpreter first (Debian's /usr/bin/python3, which has no papermill) is, to the runner, an
image without papermill. Everything else is the real path: Job, pod, runner, status.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

BARE_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, tmp_path_factory) -> Iterator[ServerProcess]:
    has = subprocess.run([BARE_PYTHON, "-c", "import papermill"], capture_output=True)
    assert has.returncode != 0, f"{BARE_PYTHON} has papermill: pick another bare interpreter"
    work = tmp_path_factory.mktemp("bare-image")
    bare_bin = work / "bare-bin"
    bare_bin.mkdir()
    (bare_bin / "python").symlink_to(BARE_PYTHON)
    root = work / "root"
    write_notebook(root / "nb.ipynb", notebook("print('never runs')"))
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, work / "kubeconfig")
    profiles = [
        {
            "name": "bare",
            "cpu_request": "100m",
            "memory_request": "128Mi",
            "env": {"PATH": f"{bare_bin}:/usr/bin:/bin"},
        }
    ]
    srv = ServerProcess(root, kubeconfig, namespace, config={"profiles": profiles})
    srv.start()
    yield srv
    srv.stop()


async def test_a_job_in_an_image_without_papermill_fails_fast_naming_it(server: ServerProcess):
    started = time.monotonic()
    _, created = await server.call("POST", "/jobs", {"notebook": "nb.ipynb"}, expect=201)
    done = await server.wait_job(
        created["job"]["id"],
        lambda j: j["phase"] in ("Succeeded", "Failed") and j["output_state"] != "pending",
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert done["phase"] == "Failed", done
    assert done["reason"] == "MissingPackage", done
    assert "papermill" in done["message"] and "pip install papermill ipykernel" in done["message"]
    assert done["output_state"] == "none", done  # nothing ran, nothing lost
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert not [p for p in os.listdir(server.root) if p.startswith("nb.") and p != "nb.ipynb"]
