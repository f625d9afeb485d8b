"""The Jupyter server SIGKILLed mid-job and started again (same port, same root): every job is
listed again and finishes with its output written and intact, and a remote kernel is
reattached with its state and still executes."""

from __future__ import annotations

import asyncio
import json

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, outputs_text, user_kubeconfig
from kernels_support import Channels, api, kernel_pods, start_kernel

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SHORT = notebook("print('short', 6 * 7)")
#: About 10 s: 20 lines, one every half second, then a last cell.
TICKER = notebook(
    "import time\nfor i in range(20):\n    print(tag, 'line', i, flush=True)\n    time.sleep(0.5)",
    "print(tag, 'done')",
    parameters="tag = 'x'",
)


def ticker_texts(tag: str) -> list[str]:
    return ["".join(f"{tag} line {i}\n" for i in range(20)), f"{tag} done\n"]


async def _wait_kernel_listed(server: ServerProcess, kernel_id: str, timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status, kernels = await api(server, "GET", "/api/kernels")
        if status == 200 and (found := next((k for k in kernels if k["id"] == kernel_id), None)):
            return found
        assert loop.time() < deadline, f"kernel {kernel_id} not reattached; {server.log_path}"
        await asyncio.sleep(0.3)


async def test_server_sigkilled_mid_job_brings_back_jobs_outputs_and_kernels(
    dev_cluster, admin_config, namespace, tmp_path
):
    root = tmp_path / "root"
    write_notebook(root / "short.ipynb", SHORT)
    write_notebook(root / "ticker.ipynb", TICKER)
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(root, kubeconfig, namespace, owner="sigkill")
    await asyncio.to_thread(server.start)
    try:
        submitted = {}
        for key, body in (
            ("short", {"notebook": "short.ipynb"}),
            ("a", {"notebook": "ticker.ipynb", "parameters": {"tag": "a"}}),
            ("b", {"notebook": "ticker.ipynb", "parameters": {"tag": "b"}}),
        ):
            _, created = await server.call("POST", "/jobs", body, expect=201)
            submitted[key] = created["job"]["id"]

        kernel_id = await start_kernel(server, "k8s-cpu")
        (pod,) = await kernel_pods_of(admin_config, namespace, kernel_id)
        channels = await Channels(server, kernel_id).__aenter__()
        out = await channels.execute("state = {'answer': 42}\nprint('set')")
        assert out["status"] == "ok" and out["stdout"] == "set\n", out

        for key in ("a", "b"):  # both tickers mid-notebook
            await server.wait_job(
                submitted[key], lambda j: j["phase"] == "Running" and j["current_cell"], 60
            )
        await asyncio.sleep(1)

        # SIGKILL: no shutdown hook runs (no detach, no output flush, no goodbye).
        assert server.proc is not None
        server.proc.kill()
        await asyncio.to_thread(server.proc.wait, 10)
        server.proc = None
        with pytest.raises(Exception):  # noqa: B017,PT011 - the websocket went with it
            await channels.execute("1", timeout=3)
        await channels.__aexit__(None, None, None)

        await asyncio.to_thread(server.start)  # same port, same root: the same server

        _, listing = await server.call("GET", "/jobs", expect=200)
        listed = {j["id"] for j in listing["jobs"]}
        assert set(submitted.values()) <= listed, (listing, submitted)

        jobs = {}
        for key, job_id in submitted.items():
            jobs[key] = await server.wait_job(
                job_id,
                lambda j: (
                    j["phase"] in ("Succeeded", "Failed")
                    and j["output_state"] not in ("pending", "none")
                ),
                120,
            )
        for key, job in jobs.items():
            assert job["phase"] == "Succeeded" and job["output_state"] == "ready", job
            executed = json.loads((root / job["output_path"]).read_text())
            texts = ["".join(t) for t in outputs_text(executed)]
            if key == "short":
                assert texts == ["short 42\n"], texts
            else:
                assert texts[-2:] == ticker_texts(key), texts
        assert len({j["output_path"] for j in jobs.values()}) == 3

        # The kernel: reattached (same pod), listed, state kept, executes new cells.
        model = await _wait_kernel_listed(server, kernel_id, 60)
        assert model["name"] == "k8s-cpu"
        (still,) = await kernel_pods_of(admin_config, namespace, kernel_id)
        assert still["metadata"]["uid"] == pod["metadata"]["uid"]
        _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
        assert status["reason"] == "Reattached", status
        async with Channels(server, kernel_id) as ch:
            out = await ch.execute("state['answer'] += 1\nstate['answer']")
            assert out["status"] == "ok" and out["result"] == "43", out
            out = await ch.execute("print('after', state)")
            assert out["stdout"] == "after {'answer': 43}\n", out
        await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    finally:
        await asyncio.to_thread(server.stop)


async def kernel_pods_of(admin_config, namespace: str, kernel_id: str) -> list[dict]:
    async with KubeClient(admin_config) as admin:
        return await kernel_pods(admin, namespace, kernel_id)
