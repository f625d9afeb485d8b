"""Nothing lost under faults, injected for real: the API server is SIGKILLed while a job's
log is being followed, and restarted; the executed notebook still comes back whole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from builders import notebook, write_notebook
from chaos_proxy import CuttingProxy
from jobs_support import ServerProcess, outputs_text, user_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

TICKER = notebook(
    "import time\nfor i in range(16):\n    print('line', i, flush=True)\n    time.sleep(0.5)",
    "print('done')",
)


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, tmp_path_factory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("faults") / "root"
    write_notebook(root / "ticker.ipynb", TICKER)
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, root.parent / "kubeconfig")
    srv = ServerProcess(root, kubeconfig, namespace)
    srv.start()
    yield srv
    srv.stop()


async def test_output_comes_back_after_the_api_server_is_killed_mid_stream(
    server: ServerProcess, dev_cluster
):
    _, created = await server.call("POST", "/jobs", {"notebook": "ticker.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    await server.wait_job(job_id, lambda j: j["phase"] == "Running" and j["current_cell"], 60)
    await asyncio.to_thread(dev_cluster.kill_component, "kube-apiserver")
    try:
        # The follower's stream is cut, retries meet a dead API server; the server says its
        # statuses may be stale rather than serving them as current.
        await _until_cluster(server, lambda info: info["stale"], 10)
        _, listing = await server.call("GET", "/jobs", expect=200)
        assert listing["stale"], listing
    finally:
        await asyncio.to_thread(dev_cluster.start_component, "kube-apiserver")
    await _until_cluster(server, lambda info: info["stale"] is None, 30)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while True:  # the server's own requests may fail while it reconnects
        status, job = await server.call("GET", f"/jobs/{job_id}")
        if status == 200 and job["phase"] == "Succeeded" and job["output_state"] != "pending":
            break
        assert loop.time() < deadline, job
        await asyncio.sleep(0.5)
    assert job["output_state"] == "ready", job
    executed = json.loads((server.root / job["output_path"]).read_text())
    texts = outputs_text(executed)
    assert "".join(texts[0]) == "".join(f"line {i}\n" for i in range(16))
    assert "".join(texts[1]) == "done\n"


async def _until_cluster(server: ServerProcess, predicate, timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        _, info = await server.call("GET", "/cluster", expect=200)
        if predicate(info):
            return info
        assert loop.time() < deadline, info
        await asyncio.sleep(0.2)


async def test_output_comes_back_after_the_log_stream_is_cut(
    dev_cluster, admin_config, namespace, tmp_path
):
    from urllib.parse import urlsplit

    import yaml

    root = tmp_path / "root"
    write_notebook(root / "ticker.ipynb", TICKER)
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    api = urlsplit(admin_config.host)
    proxy = CuttingProxy(api.hostname, api.port)
    port = await proxy.start()
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kubeconfig.write_text(yaml.safe_dump(config))
    server = ServerProcess(root, kubeconfig, namespace, owner="cut-stream")
    await asyncio.to_thread(server.start)
    try:
        _, created = await server.call("POST", "/jobs", {"notebook": "ticker.ipynb"}, expect=201)
        job_id = created["job"]["id"]
        await server.wait_job(job_id, lambda j: j["phase"] == "Running" and j["current_cell"], 60)
        await asyncio.sleep(1)
        proxy.cut()  # the follower's stream (and the watches) drop mid-notebook
        await asyncio.sleep(1)
        proxy.cut()  # and again, while it reconnects
        job = await server.wait_job(
            job_id, lambda j: j["phase"] == "Succeeded" and j["output_state"] != "pending", 90
        )
        assert job["output_state"] == "ready", job
        executed = json.loads((root / job["output_path"]).read_text())
        texts = outputs_text(executed)
        assert "".join(texts[0]) == "".join(f"line {i}\n" for i in range(16))
    finally:
        await asyncio.to_thread(server.stop)
        await proxy.stop()


async def _log_streams(admin) -> int:
    """Followed pod logs open in the API server now (its own long-running request gauge)."""
    answer = await admin.request("GET", "/metrics", raw=True)
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    total = 0
    for line in text.splitlines():
        if line.startswith("apiserver_longrunning_requests{") and 'subresource="log"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def test_a_browser_leaving_a_followed_log_closes_its_stream(server: ServerProcess, admin):
    import aiohttp

    write_notebook(server.root / "quiet.ipynb", notebook("import time\ntime.sleep(60)"))
    _, created = await server.call("POST", "/jobs", {"notebook": "quiet.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    await server.wait_job(job_id, lambda j: j["phase"] == "Running", 60)
    await asyncio.sleep(2)  # the server's own follower of this job is open by now
    before = await _log_streams(admin)
    sessions = [aiohttp.ClientSession() for _ in range(5)]
    responses = []
    for s in sessions:
        resp = await s.get(
            f"{server.url}/jupyter-k8s/jobs/{job_id}/logs?follow=1", headers=server.headers
        )
        assert resp.status == 200
        responses.append(resp)
    await asyncio.sleep(1)
    assert await _log_streams(admin) >= before + 5
    for resp, s in zip(responses, sessions, strict=True):
        resp.close()  # the browser tab goes away; the job prints nothing meanwhile
        await s.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (now := await _log_streams(admin)) > before:
        assert loop.time() < deadline, f"{now - before} log streams left open"
        await asyncio.sleep(0.2)
    await server.call("POST", f"/jobs/{job_id}/cancel", expect=200)
