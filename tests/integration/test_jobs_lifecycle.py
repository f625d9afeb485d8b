"""Lifecycle settings an operator makes, through the same REST calls users make: a rerun where
no image may be chosen (`allowed_images = []`) still runs (the profile's image is no choice of
the user's), and `c.JupyterK8s.job_ttl_seconds` is what the Job gets."""

from __future__ import annotations

import asyncio

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


async def test_rerun_with_no_allowed_images_and_the_configured_ttl(
    dev_cluster, admin_config, admin, namespace, tmp_path
):
    root = tmp_path / "root"
    write_notebook(root / "hello.ipynb", notebook("print('hello')"))
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(
        root,
        kubeconfig,
        namespace,
        owner="operator-set",
        config={"allowed_images": [], "job_ttl_seconds": 90},
    )
    await asyncio.to_thread(server.start)
    try:
        status, body = await server.call(
            "POST", "/jobs", {"notebook": "hello.ipynb", "image": "python:3.12"}
        )
        assert status == 403 and "not allowed" in str(body), body  # no image may be chosen
        _, created = await server.call("POST", "/jobs", {"notebook": "hello.ipynb"}, expect=201)
        first = await server.wait_job(created["job"]["id"], finished, 120)
        assert first["phase"] == "Succeeded", first
        job = await admin.get("jobs", first["id"], namespace)
        assert job["spec"]["ttlSecondsAfterFinished"] == 90

        _, rerun = await server.call("POST", f"/jobs/{first['id']}/rerun", {}, expect=201)
        again = await server.wait_job(rerun["job"]["id"], finished, 120)
        assert (again["phase"], again["output_state"]) == ("Succeeded", "ready"), again
        job = await admin.get("jobs", again["id"], namespace)
        assert job["spec"]["ttlSecondsAfterFinished"] == 90
    finally:
        await asyncio.to_thread(server.stop)
