"""Property test of the REST API against its OpenAPI description: no input gives a 5xx.

schemathesis generates requests from docs/openapi.yaml (the documented examples, then valid
and invalid data for every operation) and sends them to a real `jupyter server` started here
as a subprocess, with the jupyter_k8s extension talking to the local cluster as the
least-privileged ServiceAccount. A subprocess, because schemathesis calls synchronously and
pytest-jupyter's server lives on the test's event loop. Submitted jobs never start a pod:
the profiles' node selector matches no node.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from builders import notebook

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from jupyter_k8s.devcluster import pki  # noqa: E402
from jupyter_k8s.devcluster.bootstrap import service_account_token  # noqa: E402
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient  # noqa: E402

pytestmark = [pytest.mark.integration]

SPEC = Path(__file__).parents[2] / "docs" / "openapi.yaml"
MAX_EXAMPLES = 25
PROFILES = [
    {
        "name": name,
        "default": name == "cpu",
        "cpu_request": "100m",
        "node_selector": {"jupyter-k8s.io/test": "never-scheduled"},
    }
    for name in ("cpu", "small")
]
NOTEBOOK = notebook(
    "print(n, label)",
    parameters="n = 1\nlabel = 'x'",
    kernelspec={"name": "python3", "display_name": "Python 3"},
)
# Notebooks that exist in the server's root: generated requests are pointed at them now and
# then, so that fuzzing reaches the cluster and not only the 404 of a missing file.
EXISTING = ["hello.ipynb", "sub/My Notebook_v2.ipynb"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter_server(
    dev_cluster, admin_config: ClusterConfig, namespace: str, tmp_path_factory
) -> dict[str, Any]:
    """A `jupyter server` subprocess with the extension; yields its URL and token."""
    home = tmp_path_factory.mktemp("fuzz-server")
    root = home / "root"
    for name in EXISTING:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(NOTEBOOK))

    async def token() -> str:
        async with KubeClient(admin_config) as admin:
            return await service_account_token(admin, namespace, "jupyter-k8s")

    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            pki.kubeconfig(
                admin_config.host,
                dev_cluster.pki.ca.cert,
                "jupyter-k8s",
                token=asyncio.run(token()),
                namespace=namespace,
            )
        )
    )
    kubeconfig.chmod(0o600)
    server_token = secrets.token_hex(16)
    config = home / "jupyter_server_config.json"
    config.write_text(
        json.dumps(
            {
                "ServerApp": {
                    "jpserver_extensions": {"jupyter_k8s": True},
                    "allow_unauthenticated_access": False,
                    "open_browser": False,
                },
                "IdentityProvider": {"token": server_token},
                "JupyterK8s": {
                    "kubeconfig": str(kubeconfig),
                    "namespace": namespace,
                    "profiles": PROFILES,
                    "owner": "fuzzer",
                },
            }
        )
    )
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    env.pop("KUBECONFIG", None)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--config={config}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            "--allow-root",
            "--no-browser",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter server exited ({proc.returncode}):\n"
                    + (home / "server.log").read_text()[-3000:]
                )
            try:
                status = requests.get(
                    f"{url}/api/status",
                    headers={"Authorization": f"token {server_token}"},
                    timeout=2,
                )
                if status.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("jupyter server did not answer in 60 s")
            time.sleep(0.2)
        yield {"url": url, "token": server_token, "root": root, "log": home / "server.log"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


# Loaded at import (the file is static); the server's URL and token are given at each call.
schema = schemathesis.openapi.from_path(SPEC)
schema.config.update(request_timeout=30)
schema.config.generation.update(max_examples=MAX_EXAMPLES, no_shrink=True)


def _point_at_existing_notebook(case) -> None:
    """Half of the generated submits name a notebook that exists (deterministically)."""
    body = case.body
    if case.method == "POST" and case.path == "/jobs" and isinstance(body, dict):
        notebook = body.get("notebook")
        if isinstance(notebook, str) and len(notebook) % 2 == 0:
            body["notebook"] = EXISTING[len(notebook) % 4 // 2]


_known_jobs: list[str] = []


def _point_at_existing_job(case, server: dict[str, Any]) -> None:
    """Half of the generated job ids are those of real jobs (made by the submits before)."""
    import requests

    params = case.path_parameters or {}
    job_id = params.get("job_id")
    if not isinstance(job_id, str) or len(job_id) % 2:
        return
    if not _known_jobs:
        listing = requests.get(
            f"{server['url']}/jupyter-k8s/jobs",
            params={"limit": 1000},
            headers={"Authorization": f"token {server['token']}"},
            timeout=30,
        ).json()
        _known_jobs.extend(j["id"] for j in listing["jobs"])
    if _known_jobs:
        params["job_id"] = _known_jobs[len(job_id) % len(_known_jobs)]


def _no_probe_pods(case) -> None:
    """GET /doctor runs its checks but not its probe pod here: the pod would wait up to a
    minute for a node these profiles never get (test_doctor.py runs the probes)."""
    if case.path == "/doctor":
        query = dict(case.query or {})
        if str(query.get("probes", "1")).lower() in ("1", "true", "yes", ""):
            query["probes"] = "0"
        case.query = query


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_gives_a_server_error(case, jupyter_server):
    _point_at_existing_notebook(case)
    _point_at_existing_job(case, jupyter_server)
    _no_probe_pods(case)
    case.call_and_validate(
        base_url=f"{jupyter_server['url']}/jupyter-k8s",
        headers={"Authorization": f"token {jupyter_server['token']}"},
        checks=[not_a_server_error],
    )


def test_the_server_logged_no_traceback(jupyter_server):
    """Errors are answers, not crashes: nothing above made the server log a traceback."""
    log = jupyter_server["log"].read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
