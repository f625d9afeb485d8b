"""Bad input to the jobs REST API, through a real Jupyter server and the local cluster.

Each test sends one kind of bad request and checks three things: the status code, a JSON
message that says what is wrong, and that nothing was left half-made in the cluster (no Job
or ConfigMap of jupyter-k8s appeared).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from builders import notebook, write_notebook
from tornado.httpclient import HTTPClientError

from jupyter_k8s.devcluster import pki
from jupyter_k8s.devcluster.bootstrap import apply_rbac, create_namespace, service_account_token
from jupyter_k8s.errors import NotFoundProblem
from jupyter_k8s.jobs.models import SubmitRequest
from jupyter_k8s.jobs.service import JobsConfig, JobService
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient
from jupyter_k8s.names import is_label
from jupyter_k8s.profiles import load_profiles

pytestmark = [pytest.mark.integration]

IMAGE = "python:3.11-slim"
OWNER = "alice"
MANAGED = "app.kubernetes.io/managed-by=jupyter-k8s"
MAX_NOTEBOOK_BYTES = 64 * 1024
ALLOWED_IMAGES = ["python:3.11-*", "quay.io/jupyter/*"]
# Jobs made here never start a pod: their node selector matches no node.
PROFILES = [
    {
        "name": "cpu",
        "default": True,
        "cpu_request": "100m",
        "node_selector": {"jupyter-k8s.io/test": "never-scheduled"},
    },
    {
        "name": "small",
        "cpu_request": "100m",
        "node_selector": {"jupyter-k8s.io/test": "never-scheduled"},
    },
]
UNREACHABLE_CLUSTER = "unreachable"  # the kubeconfig context is "unreachable-jupyter-k8s"


def hello() -> dict[str, Any]:
    """The notebook of most tests here; a fresh one each time (some tests change theirs)."""
    return notebook("print('hi')", parameters="n = 1")


# -- the cluster side: identities, kubeconfigs, a namespace with a quota ---------------------


def _write_kubeconfig(path: Path, config: dict[str, Any]) -> str:
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module")
def kubeconfigs(
    dev_cluster, admin_config: ClusterConfig, namespace: str, tmp_path_factory
) -> dict[str, str]:
    """Kubeconfig files by kind: user (the shipped SA), norole, unreachable, quota."""
    folder = tmp_path_factory.mktemp("kubeconfigs")
    ca = dev_cluster.pki.ca.cert
    host = admin_config.host
    quota_ns = f"{namespace}-q"

    async def make() -> dict[str, str]:
        async with KubeClient(admin_config) as admin:
            user_token = await service_account_token(admin, namespace, "jupyter-k8s")
            # A ServiceAccount that no RoleBinding names: every call is forbidden.
            await admin.create(
                "serviceaccounts",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "no-role"}},
                namespace,
            )
            norole_token = await service_account_token(admin, namespace, "no-role")
            # A namespace with the shipped RBAC where a quota allows no Job at all.
            await create_namespace(admin, quota_ns)
            await apply_rbac(admin, quota_ns)
            await admin.create(
                "resourcequotas",
                {
                    "apiVersion": "v1",
                    "kind": "ResourceQuota",
                    "metadata": {"name": "no-jobs"},
                    "spec": {"hard": {"count/jobs.batch": "0"}},
                },
                quota_ns,
            )
            for _ in range(300):  # enforced once the quota controller has counted
                quota = await admin.get("resourcequotas", "no-jobs", quota_ns)
                if (quota.get("status") or {}).get("hard"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError("the quota controller never counted the ResourceQuota")
            quota_token = await service_account_token(admin, quota_ns, "jupyter-k8s")
        return {
            "user": _write_kubeconfig(
                folder / "user",
                pki.kubeconfig(host, ca, "jupyter-k8s", token=user_token, namespace=namespace),
            ),
            "norole": _write_kubeconfig(
                folder / "norole",
                pki.kubeconfig(host, ca, "no-role", token=norole_token, namespace=namespace),
            ),
            "unreachable": _write_kubeconfig(
                folder / "unreachable",
                pki.kubeconfig(
                    "https://127.0.0.1:1",
                    ca,
                    "jupyter-k8s",
                    token="not-a-token",
                    namespace=namespace,
                    cluster=UNREACHABLE_CLUSTER,
                ),
            ),
            "quota": _write_kubeconfig(
                folder / "quota",
                pki.kubeconfig(host, ca, "jupyter-k8s", token=quota_token, namespace=quota_ns),
            ),
        }

    async def drop() -> None:
        async with KubeClient(admin_config) as admin:
            await admin.delete("namespaces", quota_ns, missing_ok=True)

    files = asyncio.run(make())
    yield files
    asyncio.run(drop())


@pytest.fixture
def server_kind() -> str:
    """Which kubeconfig the Jupyter server uses; tests parametrize it."""
    return "user"


@pytest.fixture
def jp_server_config(kubeconfigs: dict[str, str], server_kind: str) -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_k8s": True},
            "allow_unauthenticated_access": False,
        },
        "JupyterK8s": {
            "kubeconfig": kubeconfigs[server_kind],
            "default_image": IMAGE,
            "allowed_images": ALLOWED_IMAGES,
            "max_notebook_bytes": MAX_NOTEBOOK_BYTES,
            "owner": OWNER,
            "profiles": PROFILES,
        },
    }


@pytest.fixture
def target_namespace(namespace: str, server_kind: str) -> str:
    """The namespace the server's kubeconfig works in."""
    return f"{namespace}-q" if server_kind == "quota" else namespace


# -- helpers -----------------------------------------------------------------------------------


async def managed_objects(admin: KubeClient, namespace: str) -> set[tuple[str, str]]:
    found = set()
    for resource in ("jobs", "configmaps"):
        listing = await admin.list(resource, namespace, labelSelector=MANAGED)
        found |= {(resource, o["metadata"]["name"]) for o in listing["items"]}
    return found


async def expect_error(
    jp_fetch,
    admin: KubeClient,
    namespace: str,
    code: int | tuple[int, ...],
    *parts: str,
    method: str = "POST",
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    message: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Send a request that must fail with `code`; check the JSON error and the cluster."""
    before = await managed_objects(admin, namespace)
    kwargs: dict[str, Any] = {"method": method}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["body"] = raw_body if raw_body is not None else json.dumps(body or {})
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            *(parts or ("jupyter-k8s", "jobs")), headers=headers, params=params, **kwargs
        )
    response = info.value.response
    codes = code if isinstance(code, tuple) else (code,)
    assert info.value.code in codes, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    data = json.loads(response.body)
    # {"message", "reason"}, and "field" naming the bad input where there is one.
    assert {"message", "reason"} <= set(data) <= {"message", "reason", "field"}, data
    assert "Traceback" not in data["message"]
    for text in message:
        assert text in data["message"], data
    assert await managed_objects(admin, namespace) == before, "something was left half-made"
    return data


async def submit(jp_fetch, **body: Any) -> dict[str, Any]:
    response = await jp_fetch("jupyter-k8s", "jobs", method="POST", body=json.dumps(body))
    assert response.code == 201, response.body
    return json.loads(response.body)


# -- the request's notebook ------------------------------------------------------------------


async def test_missing_notebook_is_404(jp_fetch, admin, namespace):
    data = await expect_error(
        jp_fetch,
        admin,
        namespace,
        404,
        body={"notebook": "nowhere/missing.ipynb"},
        message=("nowhere/missing.ipynb", "does not exist"),
    )
    assert data["reason"] == "NotFound"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.ipynb", json.dumps({"hello": "world"}), ("data.ipynb", "is not a notebook")),
        ("cells.ipynb", json.dumps({"nbformat": 4, "cells": {}}), ("no list of cells",)),
        ("broken.ipynb", '{"nbformat": 4, "cells": [', ("broken.ipynb", "invalid JSON")),
        ("binary.ipynb", b"\xff\xfe\x00garbage", ("binary.ipynb", "not UTF-8")),
        ("notes.txt", "just text", ("notes.txt", "not a notebook (.ipynb)")),
    ],
)
async def test_file_that_is_not_a_notebook_is_400(
    jp_fetch, admin, namespace, jp_root_dir: Path, name, content, message
):
    path = jp_root_dir / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    data = await expect_error(
        jp_fetch, admin, namespace, 400, body={"notebook": name}, message=message
    )
    assert data["reason"] == "Invalid"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"notebook": "hello.ipynb",', "not valid JSON"),
        ("notebook=hello.ipynb", "not valid JSON"),
        (b'{"notebook": "\xff.ipynb"}', "not valid JSON"),
        ('{"notebook": "hello.ipynb", "parameters": {"x": ' + "[" * 5000, "nested too deeply"),
        ('["hello.ipynb"]', "valid dictionary"),
        ("{}", "notebook"),
    ],
)
async def test_request_body_that_is_not_json_is_400(
    jp_fetch, admin, namespace, jp_root_dir: Path, raw, message
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    data = await expect_error(
        jp_fetch,
        admin,
        namespace,
        400,
        raw_body=raw,
        message=(message,),
    )
    assert data["reason"] == "Invalid"


@pytest.mark.parametrize(
    ("notebook", "message"),
    [
        ("../x.ipynb", "is not a notebook path relative to the server root"),
        ("a/../../x.ipynb", "is not a notebook path relative to the server root"),
        ("a\\..\\..\\x.ipynb", "is not a notebook path relative to the server root"),
        ("link/x.ipynb", "leads outside the server's root directory"),
    ],
)
async def test_path_escaping_the_root_is_400(
    jp_fetch, admin, namespace, jp_root_dir: Path, notebook, message
):
    outside = jp_root_dir.parent / "outside"
    write_notebook(outside / "x.ipynb", hello())
    write_notebook(jp_root_dir.parent / "x.ipynb", hello())
    (jp_root_dir / "link").symlink_to(outside, target_is_directory=True)
    await expect_error(
        jp_fetch, admin, namespace, 400, body={"notebook": notebook}, message=(message,)
    )


async def test_notebook_too_large_is_413(jp_fetch, admin, namespace, jp_root_dir: Path):
    nb = hello()
    nb["cells"][1]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "x" * MAX_NOTEBOOK_BYTES}
    ]
    write_notebook(jp_root_dir / "big.ipynb", nb)
    data = await expect_error(
        jp_fetch,
        admin,
        namespace,
        413,
        body={"notebook": "big.ipynb"},
        message=("big.ipynb", f"over the limit of {MAX_NOTEBOOK_BYTES}", "Clear Outputs"),
    )
    assert data["reason"] == "TooLarge"


# -- the request's other fields --------------------------------------------------------------


async def test_unknown_profile_is_400_listing_the_available(
    jp_fetch, admin, namespace, jp_root_dir: Path
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    await expect_error(
        jp_fetch,
        admin,
        namespace,
        400,
        body={"notebook": "hello.ipynb", "profile": "huge"},
        message=("unknown profile 'huge'", "available profiles: cpu, small"),
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"notebook": "hello.ipynb", "parameters": "n=3"}', "parameters"),
        ('{"notebook": "hello.ipynb", "parameters": [3]}', "parameters"),
        ('{"notebook": "hello.ipynb", "parameters": {"n": NaN}}', "not valid JSON"),
        ('{"notebook": "hello.ipynb", "parameters": {"n": Infinity}}', "not valid JSON"),
        ('{"notebook": "hello.ipynb", "parameters": {"n": 3,}}', "not valid JSON"),
        ('{"notebook": "hello.ipynb", "parameters": {"import": 3}}', "'import'"),
        ('{"notebook": "hello.ipynb", "parameters": {"a b": 3}}', "not a valid parameter name"),
    ],
)
async def test_bad_parameters_are_400(jp_fetch, admin, namespace, jp_root_dir: Path, raw, message):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    await expect_error(jp_fetch, admin, namespace, 400, raw_body=raw, message=(message,))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retries", 11, "retries"),
        ("retries", -1, "retries"),
        ("timeout_seconds", 0, "timeout_seconds"),
        ("timeout_seconds", 10**20, "timeout_seconds"),
        ("ttl_seconds_after_finished", 2**31, "ttl_seconds_after_finished"),
        ("env", {"1BAD": "x"}, "not a valid environment variable name"),
        ("env", {"A": 1}, "env.A"),
        ("secrets", ["Not_A_Secret"], "not a valid Secret name"),
        ("image", "python 3", "not a container image reference"),
        ("color", "blue", "color: unknown field"),
    ],
)
async def test_bad_fields_are_400_naming_the_field(
    jp_fetch, admin, namespace, jp_root_dir: Path, field, value, message
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    await expect_error(
        jp_fetch,
        admin,
        namespace,
        400,
        body={"notebook": "hello.ipynb", field: value},
        message=(message,),
    )


async def test_image_not_allowed_is_403(jp_fetch, admin, namespace, jp_root_dir: Path):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    data = await expect_error(
        jp_fetch,
        admin,
        namespace,
        403,
        body={"notebook": "hello.ipynb", "image": "evil.example.com/miner:latest"},
        message=("evil.example.com/miner:latest", "not allowed", *ALLOWED_IMAGES),
    )
    assert data["reason"] == "Forbidden"


async def test_notebook_name_that_is_not_dns_safe_is_slugged(
    jp_fetch, admin, namespace, jp_root_dir: Path
):
    write_notebook(jp_root_dir / "My Notebook_v2.ipynb", hello())
    before = await managed_objects(admin, namespace)
    created = await submit(
        jp_fetch, notebook="My Notebook_v2.ipynb", image="python:3.11-slim", parameters={"n": 2}
    )
    job = created["job"]
    assert job["notebook"] == "My Notebook_v2.ipynb"
    assert is_label(job["id"])
    assert re.fullmatch(r"nb-my-notebook-v2-[0-9a-f]{8}-[a-z0-9]{6}", job["id"]), job["id"]
    assert job["owner"] == OWNER and job["image"] == "python:3.11-slim"
    assert job["parameters"] == {"n": 2}
    assert created["warnings"] == []
    made = await managed_objects(admin, namespace) - before
    assert ("jobs", job["id"]) in made and len(made) == 2  # the Job and its ConfigMap
    k8s_job = await admin.get("jobs", job["id"], namespace)
    assert k8s_job["metadata"]["labels"]["jupyter-k8s.io/owner"] == OWNER
    response = await jp_fetch("jupyter-k8s", "jobs", job["id"])
    assert json.loads(response.body)["id"] == job["id"]
    response = await jp_fetch("jupyter-k8s", "jobs", job["id"], method="DELETE")
    assert response.code == 204


# -- the cluster says no ---------------------------------------------------------------------


@pytest.mark.parametrize("server_kind", ["unreachable"])
async def test_unreachable_cluster_is_503_naming_the_context(
    jp_fetch, admin, namespace, jp_root_dir: Path, kubeconfigs
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    context = f"{UNREACHABLE_CLUSTER}-jupyter-k8s"
    for method, parts, body in [
        ("POST", ("jupyter-k8s", "jobs"), {"notebook": "hello.ipynb"}),
        ("GET", ("jupyter-k8s", "jobs"), None),
        ("GET", ("jupyter-k8s", "jobs", "nb-some-job-abc123"), None),
    ]:
        data = await expect_error(
            jp_fetch,
            admin,
            namespace,
            503,
            *parts,
            method=method,
            body=body,
            message=(context, "127.0.0.1:1"),
        )
        assert data["reason"] == "Unreachable"
    # The cluster card says the same, without failing.
    info = json.loads((await jp_fetch("jupyter-k8s", "cluster")).body)
    assert info["reachable"] is False and context in info["error"]


@pytest.mark.parametrize("server_kind", ["norole"])
async def test_forbidden_is_403_naming_verb_and_resource(
    jp_fetch, admin, namespace, jp_root_dir: Path
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    for method, body in [("POST", {"notebook": "hello.ipynb"}), ("GET", None)]:
        data = await expect_error(
            jp_fetch,
            admin,
            namespace,
            403,
            method=method,
            body=body,
            message=("Kubernetes refused", "cannot list", '"jobs"', "system:serviceaccount"),
        )
        assert data["reason"] == "Forbidden"


@pytest.mark.parametrize("server_kind", ["quota"])
async def test_quota_exceeded_is_403_with_the_quotas_message(
    jp_fetch, admin, target_namespace: str, jp_root_dir: Path
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    data = await expect_error(
        jp_fetch,
        admin,
        target_namespace,
        403,
        body={"notebook": "hello.ipynb"},
        message=("exceeded quota: no-jobs", "count/jobs.batch"),
    )
    assert data["reason"] == "Forbidden"
    # The ConfigMap made before the Job was refused is gone too.
    cms = await admin.list("configmaps", target_namespace, labelSelector=MANAGED)
    assert cms["items"] == []


# -- jobs that are not there, or not ours ----------------------------------------------------

JOB_ROUTES = [
    ("GET", ()),
    ("DELETE", ()),
    ("POST", ("cancel",)),
    ("POST", ("rerun",)),
    ("GET", ("logs",)),
    ("GET", ("output",)),
    ("POST", ("output",)),
]


@pytest.mark.parametrize(("method", "sub"), JOB_ROUTES)
async def test_unknown_job_is_404(jp_fetch, admin, namespace, method, sub):
    body = {"path": "copy.ipynb"} if sub == ("output",) else {}
    data = await expect_error(
        jp_fetch,
        admin,
        namespace,
        404,
        "jupyter-k8s",
        "jobs",
        "nb-no-such-job-abc123",
        *sub,
        method=method,
        body=body,
        message=("nb-no-such-job-abc123",),
    )
    assert data["reason"] == "NotFound"


async def test_job_id_that_cannot_be_a_job_name_is_404(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-k8s", "jobs", "Not_A_Job")
    assert info.value.code == 404


async def test_another_users_jobs_are_invisible(
    jp_fetch, admin, namespace, jp_root_dir: Path, user_config: ClusterConfig
):
    """A second JobService acting for "mallory" and this server (alice) can't see each other."""
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    client = KubeClient(user_config)

    async def get_client() -> KubeClient:
        return client

    mallory = JobService(
        get_client,
        load_profiles(PROFILES, IMAGE),
        JobsConfig(namespace=namespace, owner="mallory", root_dir=jp_root_dir, default_image=IMAGE),
    )
    made: list[str] = []
    try:
        theirs, _ = await mallory.submit(SubmitRequest(notebook="hello.ipynb"))
        made.append(theirs.id)
        ours = (await submit(jp_fetch, notebook="hello.ipynb"))["job"]
        made.append(ours["id"])

        listing = json.loads((await jp_fetch("jupyter-k8s", "jobs")).body)
        ids = [j["id"] for j in listing["jobs"]]
        assert ours["id"] in ids and theirs.id not in ids
        assert {j["owner"] for j in listing["jobs"]} == {OWNER}
        for method, sub in JOB_ROUTES:
            body = {"path": "stolen.ipynb"} if sub == ("output",) else {}
            await expect_error(
                jp_fetch,
                admin,
                namespace,
                404,
                "jupyter-k8s",
                "jobs",
                theirs.id,
                *sub,
                method=method,
                body=body,
                message=(theirs.id, "of yours"),
            )
        # Still there, untouched by the DELETE and cancel above.
        job = await admin.get("jobs", theirs.id, namespace)
        assert "jupyter-k8s.io/cancelled" not in (job["metadata"].get("annotations") or {})
        assert not (jp_root_dir / "stolen.ipynb").exists()

        # And the other way round.
        with pytest.raises(NotFoundProblem):
            await mallory.get(ours["id"])
        assert [j.id for j in (await mallory.list())[0]] == [theirs.id]
        assert (await mallory.get(theirs.id)).owner == "mallory"
    finally:
        await mallory.stop()
        for job_id in made:
            await admin.delete("jobs", job_id, namespace, missing_ok=True)
        await client.close()


# -- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "parts"),
    [
        ("GET", ("jupyter-k8s", "cluster")),
        ("GET", ("jupyter-k8s", "profiles")),
        ("GET", ("jupyter-k8s", "jobs")),
        ("POST", ("jupyter-k8s", "jobs")),
        ("GET", ("jupyter-k8s", "jobs", "nb-x-abc123")),
        ("DELETE", ("jupyter-k8s", "jobs", "nb-x-abc123")),
        ("POST", ("jupyter-k8s", "jobs", "nb-x-abc123", "cancel")),
        ("GET", ("jupyter-k8s", "jobs", "nb-x-abc123", "logs")),
    ],
)
async def test_requests_without_a_token_are_refused(
    jp_fetch, admin, namespace, jp_root_dir: Path, method, parts
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    for auth in ("", "token wrong-token"):
        await expect_error(
            jp_fetch,
            admin,
            namespace,
            (401, 403),
            *parts,
            method=method,
            body={"notebook": "hello.ipynb"},
            headers={"Authorization": auth},
        )


async def test_cookie_authenticated_post_needs_the_xsrf_token(
    jp_serverapp, http_server_client, jp_base_url, jp_root_dir: Path, admin, namespace
):
    write_notebook(jp_root_dir / "hello.ipynb", hello())
    token = jp_serverapp.identity_provider.token
    base = jp_base_url.rstrip("/")

    def cookies_of(response) -> dict[str, str]:
        jar = {}
        for header in response.headers.get_list("Set-Cookie"):
            name, _, rest = header.partition("=")
            jar[name] = rest.split(";", 1)[0]
        return jar

    # Log in with the token as a browser does: the _xsrf cookie, then the login form.
    page = await http_server_client.fetch(f"{base}/login", raise_error=False)
    jar = cookies_of(page)
    xsrf = jar["_xsrf"]
    login = await http_server_client.fetch(
        f"{base}/login",
        method="POST",
        body=f"password={token}&_xsrf={xsrf}",
        headers={"Cookie": f"_xsrf={xsrf}"},
        follow_redirects=False,
        raise_error=False,
    )
    assert login.code == 302, login.body
    jar.update(cookies_of(login))
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    url = f"{base}/jupyter-k8s/jobs"

    # A GET needs no XSRF token; a POST without it is refused before the handler runs.
    listing = await http_server_client.fetch(url, headers={"Cookie": cookie})
    assert listing.code == 200
    before = await managed_objects(admin, namespace)
    refused = await http_server_client.fetch(
        url,
        method="POST",
        body=json.dumps({"notebook": "hello.ipynb"}),
        headers={"Cookie": cookie},
        raise_error=False,
    )
    assert refused.code == 403
    assert "xsrf" in refused.body.decode().lower()
    # With the header it reaches the handler (here: a notebook that does not exist).
    answered = await http_server_client.fetch(
        url,
        method="POST",
        body=json.dumps({"notebook": "missing.ipynb"}),
        headers={"Cookie": cookie, "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert answered.code == 404, answered.body
    assert "missing.ipynb" in json.loads(answered.body)["message"]
    assert await managed_objects(admin, namespace) == before
