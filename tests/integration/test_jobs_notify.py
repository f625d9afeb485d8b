"""End-of-job webhook notifications from a real Jupyter server, on the local cluster.

The receiver is a real aiohttp web server on 127.0.0.1 in the test; the server runs in its own
process with `c.JupyterK8s.notify_webhook` pointing at it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from builders import notebook, write_notebook
from jobs_support import ServerProcess, free_port, user_kubeconfig

from jupyter_k8s.jobs.objects import ANN_NOTIFIED
from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

PROFILES = [{"name": "small", "cpu_request": "100m", "memory_request": "128Mi", "default": True}]
OK_NB = notebook("print('fine')")
FAILING_NB = notebook("raise ValueError('bad row 17')")
# The part of a Slack webhook URL that is the secret: it must show up nowhere.
TOKEN = "T0AAA/B0BBB/XXXXnotifysecretXXXX"


class Receiver:
    """A webhook receiver answering `status` and keeping what it got."""

    def __init__(self, port: int, status: int = 200):
        self.port, self.status = port, status
        self.posts: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/{TOKEN}"

    async def _hook(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"/services/{TOKEN}", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def of(self, job_id: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p.get("job_id") == job_id]


def ended(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    write_notebook(root / "ok.ipynb", OK_NB)
    write_notebook(root / "failing.ipynb", FAILING_NB)
    return root


def make_server(
    dev_cluster, admin_config, namespace: str, workspace: Path, owner: str, url: str
) -> ServerProcess:
    """A server telling `url` (call in a thread: user_kubeconfig runs its own event loop)."""
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, workspace.parent / f"{owner}.kubeconfig"
    )
    return ServerProcess(
        workspace,
        kubeconfig,
        namespace,
        owner=owner,
        config={"profiles": PROFILES, "notify_webhook": url},
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    await r.start()
    yield r
    await r.stop()


async def until(check, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def marked(admin_config, namespace: str, job_id: str, timeout: float = 15) -> None:
    """Wait until the Job carries the notified annotation (set just after the POST)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with KubeClient(admin_config) as client:
        while True:
            job = await client.get("jobs", job_id, namespace)
            if (job["metadata"].get("annotations") or {}).get(ANN_NOTIFIED) == "true":
                return
            assert loop.time() < deadline, f"job {job_id} never marked notified"
            await asyncio.sleep(0.2)


async def test_one_post_per_ended_job_and_none_after_a_restart(
    dev_cluster, admin_config, namespace, workspace, receiver
):
    srv = await asyncio.to_thread(
        make_server, dev_cluster, admin_config, namespace, workspace, "alice", receiver.url
    )
    await asyncio.to_thread(srv.start)
    try:
        ids = {}
        for nb in ("ok.ipynb", "failing.ipynb"):
            _, created = await srv.call("POST", "/jobs", {"notebook": nb}, expect=201)
            ids[nb] = created["job"]["id"]
        ok = await srv.wait_job(ids["ok.ipynb"], ended, timeout=120)
        failed = await srv.wait_job(ids["failing.ipynb"], ended, timeout=120)
        assert ok["phase"] == "Succeeded" and failed["phase"] == "Failed"
        await until(lambda: all(receiver.of(i) for i in ids.values()))
        await asyncio.sleep(3)  # room for a duplicate to arrive, if one were sent
        [ok_post] = receiver.of(ok["id"])
        [failed_post] = receiver.of(failed["id"])
        assert ok_post["phase"] == "Succeeded"
        assert ok_post["notebook"] == "ok.ipynb"
        assert ok_post["output_path"] == ok["output_path"]
        assert ok_post["text"].startswith(f"Job {ok['id']} (ok.ipynb) Succeeded")
        assert failed_post["phase"] == "Failed"
        assert failed_post["reason"] == failed["reason"]
        for job_id in ids.values():
            await marked(admin_config, namespace, job_id)
        # The REST API never shows the URL.
        _, listing = await srv.call("GET", "/jobs", expect=200)
        assert TOKEN not in json.dumps(listing)

        count = len(receiver.posts)
        await asyncio.to_thread(srv.stop)
        await asyncio.to_thread(srv.start)
        await srv.wait_job(ok["id"], ended)  # listed again: the restarted server saw them
        await asyncio.sleep(5)
        assert len(receiver.posts) == count, receiver.posts[count:]
    finally:
        await asyncio.to_thread(srv.stop)
    assert srv.log_path is not None
    log = srv.log_path.read_text()
    assert TOKEN not in log and "XXXXnotifysecretXXXX" not in log


@pytest.mark.parametrize("answer", [500, "closed"])
async def test_a_failing_receiver_fails_nothing_and_keeps_the_secret(
    dev_cluster, admin_config, namespace, workspace, answer
):
    receiver = Receiver(free_port(), status=answer if isinstance(answer, int) else 200)
    if answer != "closed":  # else nobody listens on the port
        await receiver.start()
    owner = f"bob{answer}"
    srv = await asyncio.to_thread(
        make_server, dev_cluster, admin_config, namespace, workspace, owner, receiver.url
    )
    await asyncio.to_thread(srv.start)
    try:
        _, created = await srv.call("POST", "/jobs", {"notebook": "ok.ipynb"}, expect=201)
        job = await srv.wait_job(created["job"]["id"], ended, timeout=120)
        assert job["phase"] == "Succeeded"
        assert job["output_state"] == "ready"
        out = json.loads((workspace / job["output_path"]).read_text())
        assert out["cells"][0]["outputs"][0]["text"] == ["fine\n"]
        assert srv.log_path is not None
        line = f"job {job['id']}: the end-of-job notification failed: "
        await until(lambda: line in srv.log_path.read_text(), timeout=40)
        expected = "HTTP 500" if answer == 500 else "ClientConnectorError"
        assert line + expected in srv.log_path.read_text()
        if answer == 500:
            assert len(receiver.of(job["id"])) == 2  # one try, one retry
        # Given up: marked, so that a restarted server does not try again.
        await marked(admin_config, namespace, job["id"])
    finally:
        await asyncio.to_thread(srv.stop)
        await receiver.stop()
    log = srv.log_path.read_text()
    assert TOKEN not in log and "XXXXnotifysecretXXXX" not in log
