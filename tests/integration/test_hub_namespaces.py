"""The JupyterHub hook against the local cluster, as the hub runs it: KubeSpawner configured by
`setup_user_namespaces`, its hooks called with the hub's own identity (a ServiceAccount bound
to jupyter_k8s/manifests/hub-rbac.yaml, nothing more).

* Two users, the hook run twice each: every object is created once; the second run changes
  no resourceVersion.
* Kubernetes enforces the boundary: with user-b's ServiceAccount token (what user-b's server
  holds), get/list/watch of user-a's jobs, pods, pods/log, ConfigMaps, Secrets and events are
  refused (403); user-a's own token may do what the shipped Role grants.
* Refusals are spawn errors that say what to do, quickly: a ResourceQuota of 0 pods, a hub
  identity missing a verb, a namespace that is someone else's.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from jupyter_k8s.devcluster.bootstrap import service_account_token
from jupyter_k8s.devcluster.pki import kubeconfig
from jupyter_k8s.hub import (
    ANN_HUB_USER,
    UserNamespace,
    UserNamespaceError,
    setup_user_namespaces,
    user_objects,
)
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient, KubeError, load_config
from jupyter_k8s.k8s.tenancy import (
    POD_SECURITY_LABELS,
    create_namespace,
    ensure,
    object_path,
    shipped_rbac_documents,
)

pytestmark = [pytest.mark.integration]

TEMPLATE = "t-hub-{username}"


# -- the hub's identity (shared with test_jupyterhub.py) -----------------------------------------


def hub_rbac(tag: str, namespace: str, drop: tuple[str, str] | None = None) -> list[dict]:
    """hub-rbac.yaml as shipped, named after `tag`, bound to ServiceAccount `hub` in
    `namespace`; `drop` = (resource, verb) removes that verb from every rule (a weaker hub)."""
    text = resources.files("jupyter_k8s").joinpath("manifests/hub-rbac.yaml").read_text()
    role, binding = (d for d in yaml.safe_load_all(text) if d)
    role["metadata"]["name"] = binding["metadata"]["name"] = f"jupyter-k8s-hub-{tag}"
    binding["roleRef"]["name"] = role["metadata"]["name"]
    binding["subjects"] = [{"kind": "ServiceAccount", "name": "hub", "namespace": namespace}]
    if drop:
        resource, verb = drop
        for rule in role["rules"]:
            if resource in rule["resources"] and verb in rule["verbs"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != verb]
        role["rules"] = [r for r in role["rules"] if r["verbs"]]
    return [role, binding]


async def make_hub_identity(
    admin: KubeClient,
    ca: Path,
    folder: Path,
    tag: str,
    drop: tuple[str, str] | None = None,
) -> Path:
    """A namespace `hub-<tag>` with ServiceAccount `hub` bound to hub-rbac.yaml; returns a
    kubeconfig with its token (the identity a Zero to JupyterHub hub pod has)."""
    namespace = f"hub-{tag}"
    await create_namespace(admin, namespace)
    await ensure(
        admin,
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "hub", "namespace": namespace},
        },
    )
    for obj in hub_rbac(tag, namespace, drop):
        await ensure(admin, obj)
    token = await service_account_token(admin, namespace, "hub")
    path = folder / f"hub-{tag}.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig(admin.config.host, ca, "hub", token=token)))
    path.chmod(0o600)
    return path


async def drop_hub_identity(admin: KubeClient, tag: str) -> None:
    name = f"jupyter-k8s-hub-{tag}"
    for kind in ("ClusterRoleBinding", "ClusterRole"):
        try:
            await admin.request("DELETE", object_path(kind, name=name))
        except KubeError:
            pass
    await admin.delete("namespaces", f"hub-{tag}", missing_ok=True)


async def token_client(
    admin: KubeClient, ca: Path, folder: Path, namespace: str, sa: str
) -> KubeClient:
    """A client with a TokenRequest token of ServiceAccount `sa` in `namespace`."""
    token = await service_account_token(admin, namespace, sa)
    path = folder / f"{namespace}-{sa}.kubeconfig"
    path.write_text(
        yaml.safe_dump(kubeconfig(admin.config.host, ca, sa, token=token, namespace=namespace))
    )
    return KubeClient(await load_config(str(path)))


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tag() -> str:
    return "u" + uuid.uuid4().hex[:4]  # a letter first: a name KubeSpawner keeps as is


@pytest.fixture(scope="module")
def hub_kubeconfig(dev_cluster, admin_config: ClusterConfig, tag, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")

    async def up() -> Path:
        async with KubeClient(admin_config) as admin:
            return await make_hub_identity(admin, dev_cluster.pki.ca.cert, folder, tag)

    async def down() -> None:
        async with KubeClient(admin_config) as admin:
            await drop_hub_identity(admin, tag)
            items = (await admin.list("namespaces"))["items"]
            for ns in items:
                if ns["metadata"]["name"].startswith(f"t-hub-{tag}"):
                    await admin.delete("namespaces", ns["metadata"]["name"], missing_ok=True)

    path = asyncio.run(up())
    yield path
    asyncio.run(down())


@pytest.fixture
def hub_env(hub_kubeconfig: Path, monkeypatch):
    """The hub's kubeconfig. KubeSpawner's own client (loaded once per process, from
    $KUBECONFIG as it was at import) makes no call here: only the hooks do, with this."""
    spawner_module = pytest.importorskip("kubespawner.spawner")
    monkeypatch.setattr(spawner_module, "load_config", lambda *a, **k: None)
    return hub_kubeconfig


def spawner_for(c, username: str):
    from kubespawner import KubeSpawner

    user = SimpleNamespace(name=username, id=1, url=f"/user/{username}/", escaped_name=username)
    return KubeSpawner(config=c, _mock=True, user=user)


def hub_config(kubeconfig_path: Path, **options: Any):
    from traitlets.config import Config

    c = Config()
    helper = setup_user_namespaces(
        c, namespace_template=TEMPLATE, kubeconfig=str(kubeconfig_path), **options
    )
    return c, helper


async def versions(admin: KubeClient, plan: UserNamespace) -> dict[str, str]:
    out = {}
    for obj in user_objects(plan):
        meta = obj["metadata"]
        current = await admin.request(
            "GET", object_path(obj["kind"], meta.get("namespace"), meta["name"])
        )
        out[f"{obj['kind']}/{meta['name']}"] = current["metadata"]["resourceVersion"]
    return out


# -- tests --------------------------------------------------------------------------------------


async def test_hook_twice_for_two_users_creates_each_object_once(hub_env, admin, tag):
    pytest.importorskip("kubespawner")
    quota = {"pods": 10, "requests.nvidia.com/gpu": 1, "requests.memory": "8Gi"}
    c, helper = hub_config(
        hub_env,
        quota=lambda s: quota if s.user.name == f"{tag}-a" else None,
        limit_range={"default": {"memory": "1Gi"}, "defaultRequest": {"memory": "256Mi"}},
    )
    users = [f"{tag}-a", f"{tag}-b@example.com"]
    spawners = {u: spawner_for(c, u) for u in users}
    plans = {u: helper.plan(s) for u, s in spawners.items()}
    assert plans[users[0]].namespace == f"t-hub-{tag}-a"
    assert plans[users[1]].namespace.startswith(f"t-hub-{tag}-b-example-com---")
    for user, spawner in spawners.items():  # first spawn: everything is created
        report = await helper.ensure(spawner)
        assert report.count("created") == len(user_objects(plans[user])), report.outcomes
    before = {u: await versions(admin, p) for u, p in plans.items()}
    for spawner in spawners.values():  # second spawn, the hook as the hub calls it
        await spawner.pre_spawn_hook(spawner)
    for user, spawner in spawners.items():  # and a third, with its report
        again = await helper.ensure(spawner)
        objs = user_objects(plans[user])
        assert again.count("unchanged") == len(objs), again.outcomes
        assert again.calls == len(objs)  # one GET each, nothing written
    after = {u: await versions(admin, p) for u, p in plans.items()}
    assert after == before
    # a: namespace, SA, Role, RoleBinding, quota, LimitRange, NetworkPolicy; b: no quota
    assert [len(v) for v in after.values()] == [7, 6]

    for user, plan in plans.items():
        ns = await admin.get("namespaces", plan.namespace)
        labels = ns["metadata"]["labels"]
        assert {k: labels[k] for k in POD_SECURITY_LABELS} == POD_SECURITY_LABELS
        assert ns["metadata"]["annotations"][ANN_HUB_USER] == user
    quota_obj = await admin.get("resourcequotas", "jupyter-k8s", plans[users[0]].namespace)
    assert quota_obj["status"]["hard"]["requests.nvidia.com/gpu"] == "1"
    role = await admin.request("GET", object_path("Role", plans[users[1]].namespace, "jupyter-k8s"))
    shipped = next(d for d in shipped_rbac_documents() if d["kind"] == "Role")
    assert role["rules"] == shipped["rules"]

    # A server pod as KubeSpawner makes it is admitted (Pod Security restricted, quota room).
    for spawner in spawners.values():
        pod = await spawner.get_pod_manifest()
        assert await spawner.modify_pod_hook(spawner, pod) is pod
    await helper.close()


async def test_first_spawn_with_a_quota_is_not_refused_while_it_is_counted(hub_env, admin, tag):
    """A new ResourceQuota refuses every pod until the quota controller has counted it: the
    hook waits for that, so the dry run (and KubeSpawner's create) right after pass."""
    pytest.importorskip("kubespawner")
    c, helper = hub_config(hub_env, quota={"pods": 3, "requests.memory": "4Gi"})
    spawner = spawner_for(c, f"{tag}-q")
    await spawner.pre_spawn_hook(spawner)
    pod = await spawner.get_pod_manifest()
    pod.spec.containers[0].resources.requests = {"memory": "1Gi"}
    await spawner.modify_pod_hook(spawner, pod)
    await helper.close()


READ_CHECKS = [
    # (resource path under the namespace, verb)
    ("/apis/batch/v1/namespaces/{ns}/jobs", "list"),
    ("/apis/batch/v1/namespaces/{ns}/jobs", "watch"),
    ("/apis/batch/v1/namespaces/{ns}/jobs/nb-x", "get"),
    ("/api/v1/namespaces/{ns}/pods", "list"),
    ("/api/v1/namespaces/{ns}/pods", "watch"),
    ("/api/v1/namespaces/{ns}/pods/victim", "get"),
    ("/api/v1/namespaces/{ns}/pods/victim/log", "get"),
    ("/api/v1/namespaces/{ns}/configmaps", "list"),
    ("/api/v1/namespaces/{ns}/configmaps", "watch"),
    ("/api/v1/namespaces/{ns}/configmaps/nb-x", "get"),
    ("/api/v1/namespaces/{ns}/secrets", "list"),
    ("/api/v1/namespaces/{ns}/secrets", "watch"),
    ("/api/v1/namespaces/{ns}/secrets/victim", "get"),
    ("/api/v1/namespaces/{ns}/events", "list"),
    ("/api/v1/namespaces/{ns}/events", "watch"),
    ("/api/v1/namespaces/{ns}/events/victim.1", "get"),
    ("/apis/events.k8s.io/v1/namespaces/{ns}/events", "list"),
    ("/apis/events.k8s.io/v1/namespaces/{ns}/events", "watch"),
]


def granted(path: str, verb: str) -> bool:
    """Whether the shipped Role (read from rbac.yaml now) grants this request."""
    parts = path.split("/")
    group = "" if parts[1] == "api" else parts[2]
    after = parts[parts.index("{ns}") + 1 :]
    resource = after[0] + (f"/{after[2]}" if len(after) > 2 else "")
    role = next(d for d in shipped_rbac_documents() if d["kind"] == "Role")
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
        for r in role["rules"]
    )


async def status_of(client: KubeClient, path: str, verb: str) -> int:
    params = {"watch": "true", "timeoutSeconds": 1} if verb == "watch" else None
    try:
        await client.request("GET", path, params=params, raw=True, timeout=10)
    except KubeError as exc:
        return exc.status
    return 200


async def test_one_users_credentials_read_nothing_of_another(
    hub_env, admin, dev_cluster, tag, tmp_path
):
    pytest.importorskip("kubespawner")
    c, helper = hub_config(hub_env)
    a, b = spawner_for(c, f"{tag}-iso-a"), spawner_for(c, f"{tag}-iso-b")
    for spawner in (a, b):
        await spawner.pre_spawn_hook(spawner)
    await helper.close()
    ns_a, ns_b = a.namespace, b.namespace
    # Something to read in user-a's namespace: a Secret and a ConfigMap.
    await admin.create(
        "secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "victim"}},
        ns_a,
    )
    ca = dev_cluster.pki.ca.cert
    async with (
        await token_client(admin, ca, tmp_path, ns_a, "jupyter-k8s") as user_a,
        await token_client(admin, ca, tmp_path, ns_b, "jupyter-k8s") as user_b,
    ):
        refused, allowed = [], []
        for template, verb in READ_CHECKS:
            path = template.format(ns=ns_a)
            status_b = await status_of(user_b, path, verb)
            assert status_b == 403, f"user-b {verb} {path}: {status_b}"
            refused.append((verb, path))
            status_a = await status_of(user_a, path, verb)
            if granted(template, verb):
                assert status_a in (200, 404), f"user-a {verb} {path}: {status_a}"
                allowed.append((verb, path))
            else:
                assert status_a == 403, f"user-a {verb} {path}: {status_a} (not in the Role)"
            # and user-b's own namespace answers the same request as user-a's does
            own = await status_of(user_b, template.format(ns=ns_b), verb)
            assert (own != 403) == granted(template, verb)
        assert len(refused) == len(READ_CHECKS)
        assert allowed  # the Role grants some reads, and they work for their owner
        # Writes too: user-b can't create a pod or a Secret in user-a's namespace.
        with pytest.raises(KubeError) as err:
            await user_b.create(
                "secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, ns_a
            )
        assert err.value.status == 403


async def test_full_quota_is_a_clear_spawn_error(hub_env, admin, tag):
    pytest.importorskip("kubespawner")
    c, helper = hub_config(hub_env, quota={"pods": 0})
    spawner = spawner_for(c, f"{tag}-full")
    await spawner.pre_spawn_hook(spawner)
    started = time.monotonic()
    with pytest.raises(UserNamespaceError) as err:
        await spawner.modify_pod_hook(spawner, await spawner.get_pod_manifest())
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert f"Kubernetes refuses {tag}-full's server in namespace {spawner.namespace}" in message
    assert "exceeded quota: jupyter-k8s" in message and "limited: pods=0" in message
    assert f"kubectl -n {spawner.namespace} describe resourcequota" in message
    assert err.value.reason == "jupyter-k8s-quota" and err.value.status_code == 403
    # Nothing was created: the dry run only asked.
    pods = await admin.list("pods", spawner.namespace)
    assert pods["items"] == []
    await helper.close()


@pytest.mark.parametrize(
    "drop, needle",
    [
        (("networkpolicies", "create"), 'cannot create resource "networkpolicies"'),
        (("roles", "create"), 'cannot create resource "roles"'),
    ],
)
async def test_hub_missing_a_verb_is_a_clear_spawn_error(
    dev_cluster, admin_config, admin, tag, tmp_path, monkeypatch, drop, needle
):
    pytest.importorskip("kubespawner")
    weak = f"{tag}w{drop[0][:3]}"
    path = await make_hub_identity(admin, dev_cluster.pki.ca.cert, tmp_path, weak, drop=drop)
    spawner_module = pytest.importorskip("kubespawner.spawner")
    monkeypatch.setattr(spawner_module, "load_config", lambda *a, **k: None)
    try:
        c, helper = hub_config(path)
        spawner = spawner_for(c, f"{tag}-weak-{drop[0][:3]}")
        started = time.monotonic()
        with pytest.raises(UserNamespaceError) as err:
            await spawner.pre_spawn_hook(spawner)
        assert time.monotonic() - started < 5
        message = str(err.value)
        assert needle in message, message
        assert "hub-rbac.yaml" in message and spawner.namespace in message
        assert err.value.reason == "jupyter-k8s-rbac"
        await helper.close()
    finally:
        await drop_hub_identity(admin, weak)
        await admin.delete("namespaces", spawner.namespace, missing_ok=True)


async def test_someone_elses_namespace_is_refused(hub_env, admin, tag):
    pytest.importorskip("kubespawner")
    c, helper = hub_config(hub_env)
    spawner = spawner_for(c, f"{tag}-taken")
    await create_namespace(admin, spawner.namespace)  # made by an admin, for nobody
    with pytest.raises(UserNamespaceError, match="belongs to no JupyterHub user"):
        await spawner.pre_spawn_hook(spawner)
    listed = await admin.list("serviceaccounts", spawner.namespace)
    assert "jupyter-k8s" not in [s["metadata"]["name"] for s in listed["items"]]
    await helper.close()


def test_hub_rbac_drop_helper():
    role, _ = hub_rbac("x", "ns", drop=("networkpolicies", "create"))
    assert not any(
        "networkpolicies" in r["resources"] and "create" in r["verbs"] for r in role["rules"]
    )
    assert copy.deepcopy(role) == role
