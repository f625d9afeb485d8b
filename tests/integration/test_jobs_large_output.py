"""A 40 MB executed notebook comes back whole after the Jupyter server was SIGKILLed mid-job
and started again, on a node that rotates container logs at 10 MiB as the kubelet does: the
pod holds the output (it could not survive rotation in the log) and the restarted server
fetches it from the pod, verified by size and sha256."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(600)]

# 30 random PNG-sized blobs of ~1.3 MB base64 each, as many plots would be: ~40 MB of JSON
# that gzip cannot shrink much, so it can't be framed into the log.
PLOTS = notebook(
    "import time\ntime.sleep(12)\nprint('plotting', flush=True)",
    "import base64, hashlib, os\n"
    "from IPython.display import display\n"
    "digest = hashlib.sha256()\n"
    "for i in range(30):\n"
    "    blob = base64.b64encode(os.urandom(1_000_000)).decode()\n"
    "    digest.update(blob.encode())\n"
    "    display({'image/png': blob}, raw=True)\n"
    "print(digest.hexdigest())",
)


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


async def pod_log_tail(admin, namespace: str, job_id: str) -> str:
    """What the job's pod printed last (for a failure's message)."""
    listing = await admin.list("pods", namespace, labelSelector=f"job-name={job_id}")
    pods = listing.get("items") or []
    if not pods:
        return "(no pod)"
    name = pods[-1]["metadata"]["name"]
    raw = await admin.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log", params={"tailLines": 30}, raw=True
    )
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return f"{pods[-1].get('status')}\n{text[-3000:]}"


async def test_a_40_mb_output_comes_back_after_the_server_restarted_mid_job(
    dev_cluster, admin_config, admin, namespace, tmp_path
):
    root = tmp_path / "root"
    write_notebook(root / "plots.ipynb", PLOTS)
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(root, kubeconfig, namespace, owner="plotter")
    await asyncio.to_thread(server.start)
    try:
        _, created = await server.call("POST", "/jobs", {"notebook": "plots.ipynb"}, expect=201)
        job_id = created["job"]["id"]
        await server.wait_job(job_id, lambda j: j["phase"] == "Running", 90)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)  # mid-job: the first cell still sleeps
        server.proc.wait()
        await asyncio.sleep(25)  # the notebook ends meanwhile; its pod holds the output
        server.proc = None
        await asyncio.to_thread(server.start)
        try:
            job = await server.wait_job(
                job_id,
                lambda j: j["phase"] in ("Succeeded", "Failed") and j["output_state"] != "pending",
                240,
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{await pod_log_tail(admin, namespace, job_id)}") from None
        assert (job["phase"], job["output_state"]) == ("Succeeded", "ready"), job
        raw = (root / job["output_path"]).read_bytes()
        assert len(raw) > 40_000_000, len(raw)
        executed = json.loads(raw)
        cells = executed["cells"]
        blobs = [o["data"]["image/png"] for o in cells[-1]["outputs"] if "data" in o]
        assert len(blobs) == 30
        printed = "".join(_text(o["text"]) for o in cells[-1]["outputs"] if "text" in o)
        digest = hashlib.sha256()
        for blob in blobs:
            digest.update(_text(blob).encode())
        assert printed.strip() == digest.hexdigest()
        print(f"40 MB output: {len(raw) / 1e6:.1f} MB back after a server SIGKILL")
    finally:
        await asyncio.to_thread(server.stop)
