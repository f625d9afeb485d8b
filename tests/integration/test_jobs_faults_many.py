"""Twenty jobs, three followed logs, and the API server SIGKILLed and restarted in the middle:
every job finishes, every output comes back whole (the runner's frame carries a sha256 the
server checks; the test checks each notebook's own printed lines), every followed log holds
each line once, in order, and there is one output file per job."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, outputs_text, user_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(600)]

JOBS = 20
FOLLOWED = 3
LINES = 24
#: 20 runners and their kernels share the node's 2 CPUs: a small request lets all of them run
#: at once (the default profile asks for 500m).
PROFILES = [{"name": "small", "default": True, "cpu_request": "50m", "memory_limit": "512Mi"}]

WORKER = notebook(
    f"import time\nfor i in range({LINES}):\n"
    "    print(f'job {n} line {i}', flush=True)\n    time.sleep(0.5)",
    "print(f'job {n} done')",
    parameters="n = -1",
)


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] not in (
        "pending",
    )


async def follow(server: ServerProcess, job_id: str, started: asyncio.Event) -> bytes:
    """The job's log as the browser follows it, through the API server's death."""
    timeout = aiohttp.ClientTimeout(total=300)
    async with (
        aiohttp.ClientSession(timeout=timeout) as s,
        s.get(
            f"{server.url}/jupyter-k8s/jobs/{job_id}/logs?follow=1", headers=server.headers
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        text = await resp.content.readline()  # the stream is open and flowing
        started.set()
        return text + await resp.read()


async def test_twenty_jobs_survive_an_api_server_kill(
    dev_cluster, admin_config, namespace, tmp_path
):
    root = tmp_path / "root"
    write_notebook(root / "worker.ipynb", WORKER)
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(root, kubeconfig, namespace, config={"profiles": PROFILES})
    await asyncio.to_thread(server.start)
    try:
        ids: dict[str, int] = {}
        for n in range(JOBS):
            _, created = await server.call(
                "POST", "/jobs", {"notebook": "worker.ipynb", "parameters": {"n": n}}, expect=201
            )
            ids[created["job"]["id"]] = n
        followed = list(ids)[:FOLLOWED]
        for job_id in followed:
            await server.wait_job(job_id, lambda j: j["phase"] == "Running", 120)
        flowing = [asyncio.Event() for _ in followed]
        follows = [
            asyncio.create_task(follow(server, job_id, event))
            for job_id, event in zip(followed, flowing, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in flowing)), 60)
        await asyncio.sleep(1)
        await asyncio.to_thread(dev_cluster.kill_component, "kube-apiserver")
        await asyncio.sleep(5)  # the jobs go on on the node; the server's streams are cut
        await asyncio.to_thread(dev_cluster.start_component, "kube-apiserver")

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 300
        done: dict[str, dict] = {}
        while len(done) < JOBS:
            assert loop.time() < deadline, {i: done.get(i) for i in ids}
            status, listing = await server.call("GET", "/jobs")
            if status == 200:
                for job in listing["jobs"]:
                    if job["id"] in ids and finished(job):
                        done[job["id"]] = job
            await asyncio.sleep(1)

        table = {"submitted": JOBS, "succeeded": 0, "outputs back": 0, "statuses right": 0}
        for job_id, job in done.items():
            n = ids[job_id]
            table["succeeded"] += job["phase"] == "Succeeded"
            table["statuses right"] += (
                job["phase"] == "Succeeded" and not job["reason"] and job["finished"] is not None
            )
            assert job["output_state"] == "ready", job
            executed = json.loads((root / job["output_path"]).read_text())
            texts = outputs_text(executed)
            assert "".join(texts[-2]) == "".join(f"job {n} line {i}\n" for i in range(LINES))
            assert "".join(texts[-1]) == f"job {n} done\n"
            table["outputs back"] += 1
        print("loss table (API server SIGKILL, 20 jobs, 3 followed logs):", table)
        assert table == {
            "submitted": JOBS,
            "succeeded": JOBS,
            "outputs back": JOBS,
            "statuses right": JOBS,
        }

        for job_id, task in zip(followed, follows, strict=True):
            text = (await asyncio.wait_for(task, 60)).decode()
            n = ids[job_id]
            lines = re.findall(rf"^job {n} line (\d+)$", text, re.MULTILINE)
            # Each line once, in order: a resumed stream neither repeats nor skips.
            assert [int(i) for i in lines] == list(range(LINES)), text[-2000:]

        outputs = sorted(p.name for p in root.glob("worker.*.ipynb"))
        assert len(outputs) == JOBS, outputs
    finally:
        await asyncio.to_thread(server.stop)
