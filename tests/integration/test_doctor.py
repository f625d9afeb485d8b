"""`jupyter k8s doctor` and GET /jupyter-k8s/doctor against the local cluster.

The CLI runs as a user runs it (the `jupyter k8s` command in a subprocess, a kubeconfig in
KUBECONFIG, no Jupyter config: the image comes from what the cluster advertises); the REST
route through a real Jupyter server. Identities: the least-privileged ServiceAccount, admin,
and a ServiceAccount whose Role lacks one verb. The probe pods run on the process node, with
this environment's Python, which has papermill and ipykernel.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jobs_support import user_kubeconfig
from tornado.httpclient import HTTPClientError

from jupyter_k8s.devcluster.bootstrap import DEFAULT_IMAGE, shipped_rbac
from jupyter_k8s.doctor.probe import PROBE_SELECTOR
from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration]

LIMITED_SA = "doctor-limited"
QUOTA = "doctor-quota"


@pytest.fixture(scope="module")
def user_kubeconfig_file(dev_cluster, admin_config, namespace, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("doctor-kube")
    return user_kubeconfig(dev_cluster, admin_config, namespace, folder / "user")


@pytest.fixture(scope="module")
def jupyter_config_dir(tmp_path_factory) -> Path:
    """An empty Jupyter config: nothing but what the cluster says picks the image."""
    return tmp_path_factory.mktemp("doctor-jupyter-config")


def cli_env(kubeconfig: Path, config_dir: Path) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig),
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_CONFIG_PATH": "",
        "JUPYTER_IMAGE_SPEC": "",
        "JUPYTER_IMAGE": "",
        "PYTHONUNBUFFERED": "1",
    }


def doctor(env: dict[str, str], *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    """`jupyter k8s doctor ARGS`, the command a user types."""
    jupyter = str(Path(sys.executable).parent / "jupyter")
    return subprocess.run(
        [jupyter, "k8s", "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


def assert_probe_ok(checks: dict[str, dict[str, Any]]) -> None:
    assert checks["probe.python"]["status"] == "ok", checks["probe.python"]
    assert checks["probe.python"]["detail"].startswith(
        f"Python {sys.version.split()[0]} in {DEFAULT_IMAGE}"
    )
    import ipykernel
    import papermill

    assert checks["probe.papermill"] == {
        **checks["probe.papermill"],
        "status": "ok",
        "detail": papermill.__version__,
    }
    assert checks["probe.ipykernel"]["status"] == "ok"
    assert checks["probe.ipykernel"]["detail"] == ipykernel.__version__
    port = checks["probe.kernel-port"]
    assert port["status"] == "ok", port
    assert port["detail"].startswith("this server reaches the pod at 127.")
    assert port["detail"].endswith(":52700")


async def no_probe_pods_left(admin: KubeClient, namespace: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        pods = await admin.list("pods", namespace, labelSelector=PROBE_SELECTOR)
        if not pods["items"]:
            return
        assert time.monotonic() < deadline, [p["metadata"]["name"] for p in pods["items"]]
        await asyncio.sleep(0.2)


# -- the CLI ------------------------------------------------------------------------------------


def test_least_privileged_service_account_passes(
    user_kubeconfig_file, jupyter_config_dir, namespace, admin_config
):
    env = cli_env(user_kubeconfig_file, jupyter_config_dir)
    started = time.monotonic()
    proc = doctor(env, "--json")
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["exit_code"] == 0
    assert report["namespace"] == namespace
    checks = by_id(report)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert not failed, failed

    assert checks["config.kubeconfig"]["detail"] == f"{user_kubeconfig_file} (from $KUBECONFIG)"
    assert checks["config.namespace"]["detail"] == f"{namespace} (the context's namespace)"
    api = checks["api.reachable"]["detail"]
    assert "answers, Kubernetes v1." in api
    assert f"you are system:serviceaccount:{namespace}:jupyter-k8s" in api
    # Every rule of the shipped Role is there, each verb allowed.
    for target in ("batch/jobs", "pods", "pods/log", "configmaps", "secrets", "events"):
        assert checks[f"rbac.{target}"]["status"] == "ok", checks[f"rbac.{target}"]
    assert checks["rbac.batch/jobs"]["detail"] == "create, get, list, watch, patch, delete"
    # Optional: nodes are cluster-scoped, Kueue is not installed here.
    assert checks["rbac.nodes"]["status"] == "warn"
    assert "jupyter-k8s-nodes" in checks["rbac.nodes"]["fix"]
    assert checks["rbac.kueue"]["status"] == "ok"
    assert "not installed" in checks["rbac.kueue"]["detail"]
    assert checks["gpus.nodes"]["status"] == "skip"
    # A namespaced identity may not read its namespace: a warning, not a failure.
    pod_security = checks["namespace.pod-security"]
    assert pod_security["status"] == "warn"
    assert pod_security["detail"].startswith("unknown (cannot read the namespace")
    assert checks["namespace.quota"]["detail"] == f"none in {namespace}"
    assert checks["image.default"]["detail"] == (
        f"{DEFAULT_IMAGE} (from the cluster's kube-public/jupyter-k8s-defaults ConfigMap)"
    )
    assert_probe_ok(checks)
    # Progress of the probe pod on stderr, and the pod deleted afterwards.
    assert "probe pod jupyter-k8s-doctor-" in proc.stderr
    assert ": deleted" in proc.stderr
    assert took < 60, f"the doctor took {took:.1f} s"

    async def check_left() -> None:
        async with KubeClient(admin_config) as admin:
            await no_probe_pods_left(admin, namespace)

    asyncio.run(check_left())


def test_text_checklist_without_probes(user_kubeconfig_file, jupyter_config_dir):
    env = cli_env(user_kubeconfig_file, jupyter_config_dir)
    proc = doctor(env, "--no-probes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Configuration\n  ✓ kubeconfig: " in out
    assert "  ✓ batch/jobs: create, get, list, watch, patch, delete" in out
    assert "  ! list nodes (optional): denied" in out
    assert "      fix: if GPU totals are wanted, a cluster admin runs:" in out
    assert "  - probe pod: not run (--no-probes / probes=0)" in out
    assert "jupyter-k8s-doctor-" not in proc.stderr  # no pod
    assert out.rstrip().splitlines()[-1].startswith("all required checks passed")


def test_admin_sees_everything(dev_cluster, namespace, jupyter_config_dir, admin_config):
    async def add_quota() -> None:
        async with KubeClient(admin_config) as admin:
            body = {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": QUOTA},
                "spec": {"hard": {"pods": "20", "requests.cpu": "4", "requests.memory": "8Gi"}},
            }
            await admin.create("resourcequotas", body, namespace)
            # The quota controller fills in status.used; the doctor reads it.
            for _ in range(100):
                quota = await admin.get("resourcequotas", QUOTA, namespace)
                if (quota.get("status") or {}).get("used") is not None:
                    return
                await asyncio.sleep(0.1)

    async def drop_quota() -> None:
        async with KubeClient(admin_config) as admin:
            await admin.delete("resourcequotas", QUOTA, namespace, missing_ok=True)

    asyncio.run(add_quota())
    try:
        env = cli_env(dev_cluster.admin_kubeconfig, jupyter_config_dir)
        proc = doctor(env, "--json", "-n", namespace)
    finally:
        asyncio.run(drop_quota())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = by_id(json.loads(proc.stdout))
    assert checks["config.namespace"]["detail"] == f"{namespace} (set by --namespace)"
    assert checks["rbac.nodes"]["status"] == "ok"
    assert checks["namespace.pod-security"]["status"] == "ok"
    assert checks["namespace.pod-security"]["detail"].startswith("restricted enforced")
    quota = checks[f"namespace.quota.{QUOTA}"]
    assert quota["status"] == "ok", quota
    assert quota["detail"].startswith(f"{QUOTA}: pods ")
    # The probe pod (50m, 64Mi) may be counted already: the checks run concurrently.
    assert re.search(r"requests\.cpu (0|50m)/4 \((4|3950m) left\)", quota["detail"]), quota
    assert re.search(r"requests\.memory (0|64Mi)/8Gi \((8Gi|7\.9Gi) left\)", quota["detail"])
    gpu = checks["gpus.nvidia.com/gpu"]
    assert gpu["status"] == "ok" and gpu["detail"].startswith("1 allocatable on 1 of ")
    assert_probe_ok(checks)


def test_a_missing_verb_fails_and_names_the_fix(
    dev_cluster, namespace, admin_config, jupyter_config_dir, tmp_path
):
    """A Role that is the shipped one minus `delete` on jobs."""

    async def make() -> None:
        async with KubeClient(admin_config) as admin:
            role = next(copy.deepcopy(o) for o in shipped_rbac() if o["kind"] == "Role")
            for rule in role["rules"]:
                if rule["apiGroups"] == ["batch"] and rule["resources"] == ["jobs"]:
                    rule["verbs"].remove("delete")
            role["metadata"]["name"] = LIMITED_SA
            await admin.create("serviceaccounts", {"metadata": {"name": LIMITED_SA}}, namespace)
            await admin.create("roles", role, namespace)
            await admin.create(
                "rolebindings",
                {
                    "metadata": {"name": LIMITED_SA},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": LIMITED_SA,
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": LIMITED_SA, "namespace": namespace}
                    ],
                },
                namespace,
            )

    asyncio.run(make())
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, tmp_path / "limited", service_account=LIMITED_SA
    )
    env = cli_env(kubeconfig, jupyter_config_dir)
    proc = doctor(env, "--no-probes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    (line,) = [ln for ln in lines if ln.startswith("  ✗ ")]
    assert line == "  ✗ batch/jobs: delete batch/jobs: denied"
    fix = "\n".join(lines[lines.index(line) + 1 : lines.index(line) + 6])
    assert fix.startswith(
        "      fix: add this rule to the Role bound to "
        f"system:serviceaccount:{namespace}:{LIMITED_SA} in namespace {namespace}:"
    )
    assert '           - apiGroups: ["batch"]' in fix
    assert '             resources: ["jobs"]' in fix
    assert '             verbs: ["delete"]' in fix
    assert f"kubectl apply -n {namespace} -f " in fix
    assert lines[-1].startswith("1 required check failed")

    proc = doctor(env, "--no-probes", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["exit_code"] == 1
    assert [c["id"] for c in report["checks"] if c["status"] == "fail"] == ["rbac.batch/jobs"]


# -- the REST API -------------------------------------------------------------------------------


@pytest.fixture
def jp_server_config(user_kubeconfig_file) -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_k8s": True},
            "allow_unauthenticated_access": False,
        },
        "JupyterK8s": {"kubeconfig": str(user_kubeconfig_file), "owner": "doctor-rest"},
    }


async def test_rest_doctor(jp_fetch, admin, namespace, monkeypatch):
    monkeypatch.delenv("JUPYTER_IMAGE_SPEC", raising=False)
    monkeypatch.delenv("JUPYTER_IMAGE", raising=False)
    response = await jp_fetch("jupyter-k8s", "doctor", request_timeout=120)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    report = json.loads(response.body)
    assert report["ok"] is True, [c for c in report["checks"] if c["status"] == "fail"]
    assert report["namespace"] == namespace
    checks = by_id(report)
    assert checks["config.kubeconfig"]["detail"].endswith("(set by c.JupyterK8s.kubeconfig)")
    assert_probe_ok(checks)
    await no_probe_pods_left(admin, namespace)

    response = await jp_fetch("jupyter-k8s", "doctor", params={"probes": "0"})
    checks = by_id(json.loads(response.body))
    assert checks["probe"]["status"] == "skip"
    assert "probe.python" not in checks

    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-k8s", "doctor", params={"probes": "maybe"})
    assert info.value.code == 400
    error = json.loads(info.value.response.body)
    assert error["field"] == "probes" and "probes must be 0 or 1" in error["message"]
