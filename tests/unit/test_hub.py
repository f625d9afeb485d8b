"""jupyter_k8s.hub without a cluster: the objects of one user (golden dicts), the KubeSpawner
configuration `setup_user_namespaces` sets, and the spawn errors a refusal turns into."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets.config import Config

from jupyter_k8s import hub
from jupyter_k8s.hub import (
    ANN_HUB_USER,
    UserNamespace,
    UserNamespaceError,
    UserNamespaces,
    admit_pod,
    ensure_user_namespace,
    pod_json,
    setup_user_namespaces,
    user_objects,
)
from jupyter_k8s.k8s.client import Conflict, Forbidden, KubeError, NotFound
from jupyter_k8s.k8s.tenancy import shipped_rbac_documents

PLAN = UserNamespace(
    namespace="jupyter-user-a",
    username="user-a@example.com",
    quota={"requests.nvidia.com/gpu": 1, "pods": 20, "requests.memory": "32Gi"},
    limit_range=[
        {
            "type": "Container",
            "default": {"cpu": 1, "memory": "2Gi"},
            "defaultRequest": {"cpu": "250m", "memory": "1Gi"},
        }
    ],
)

LABELS = {
    "app.kubernetes.io/managed-by": "jupyter-k8s",
    "app.kubernetes.io/component": "user-namespace",
}

GOLDEN_NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
        "name": "jupyter-user-a",
        "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
            **LABELS,
        },
        "annotations": {"jupyter-k8s.io/hub-user": "user-a@example.com"},
    },
}

GOLDEN_QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "jupyter-k8s", "namespace": "jupyter-user-a", "labels": LABELS},
    "spec": {"hard": {"requests.nvidia.com/gpu": "1", "pods": "20", "requests.memory": "32Gi"}},
}

GOLDEN_LIMIT_RANGE = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {"name": "jupyter-k8s", "namespace": "jupyter-user-a", "labels": LABELS},
    "spec": {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "1", "memory": "2Gi"},
                "defaultRequest": {"cpu": "250m", "memory": "1Gi"},
            }
        ]
    },
}

GOLDEN_NETWORK_POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "jupyter-k8s-kernels", "namespace": "jupyter-user-a", "labels": LABELS},
    "spec": {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/managed-by": "jupyter-k8s",
                "app.kubernetes.io/component": "kernel",
            }
        },
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"component": "singleuser-server"}}}],
                "ports": [{"protocol": "TCP", "port": p} for p in range(52700, 52705)],
            }
        ],
    },
}


def by_kind(objs: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objs}


def test_user_objects_match_golden():
    objs = user_objects(PLAN)
    assert [o["kind"] for o in objs] == [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
    ]
    kinds = by_kind(objs)
    assert kinds["Namespace"] == GOLDEN_NAMESPACE
    assert kinds["ResourceQuota"] == GOLDEN_QUOTA
    assert kinds["LimitRange"] == GOLDEN_LIMIT_RANGE
    assert kinds["NetworkPolicy"] == GOLDEN_NETWORK_POLICY


def test_rbac_is_the_shipped_manifest_in_the_users_namespace():
    """The ServiceAccount, Role and RoleBinding are rbac.yaml's, read from the file: only the
    namespace (and our labels) differ, so a trimmed Role reaches every user unchanged."""
    shipped = by_kind(shipped_rbac_documents())
    kinds = by_kind(user_objects(PLAN))
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        ours, theirs = copy.deepcopy(kinds[kind]), copy.deepcopy(shipped[kind])
        assert ours["metadata"].pop("namespace") == "jupyter-user-a"
        assert ours["metadata"].pop("labels") == {**theirs["metadata"].pop("labels", {}), **LABELS}
        for subject in ours.get("subjects", []):
            assert subject.pop("namespace") == "jupyter-user-a"
        assert ours == theirs
    sa = kinds["ServiceAccount"]["metadata"]["name"]
    assert kinds["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": sa, "namespace": "jupyter-user-a"}
    ]


def test_without_quota_or_limits_there_are_none():
    objs = user_objects(UserNamespace(namespace="jupyter-b", username="b"))
    assert [o["kind"] for o in objs] == [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "NetworkPolicy",
    ]


def test_network_policy_selects_the_pods_the_kernel_builder_labels():
    """The policy's selectors are those of the real kernel pod and server pod builders."""
    from jupyter_k8s.kernels.objects import DEFAULT_PORTS, KernelPodBuild, make_pod
    from jupyter_k8s.profiles import load_profiles

    profile = next(iter(load_profiles(None, "img")))
    pod = make_pod(
        KernelPodBuild(
            name="k",
            namespace="jupyter-user-a",
            kernel_id="id",
            kernel_name="k8s-cpu",
            owner="user-a@example.com",
            profile=profile,
            image="img",
        )
    )
    spec = GOLDEN_NETWORK_POLICY["spec"]
    for key, value in spec["podSelector"]["matchLabels"].items():
        assert pod["metadata"]["labels"][key] == value
    container_ports = {p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert {p["port"] for p in spec["ingress"][0]["ports"]} == container_ports
    assert container_ports == set(DEFAULT_PORTS.values())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"namespace": "Jupyter_A"}, "not a valid namespace name"),
        ({"namespace": "x" * 64}, "not a valid namespace name"),
        ({"username": ""}, "needs a user name"),
        ({"quota": {"pods": "lots"}}, "not a quantity"),
        ({"limit_range": [{"default": {"cpu": "1"}}]}, "needs a type"),
        ({"kernel_ports": [0]}, "not a port"),
    ],
)
def test_bad_plans_are_refused(kwargs: dict, message: str):
    args = {"namespace": "jupyter-a", "username": "a", **kwargs}
    with pytest.raises(ValueError, match=message):
        UserNamespace(**args)


def test_bad_static_settings_fail_at_hub_start():
    with pytest.raises(ValueError, match="not a quantity"):
        UserNamespaces(quota={"requests.nvidia.com/gpu": "one"})


def test_limit_range_mapping_is_one_container_item():
    helper = UserNamespaces(limit_range={"default": {"memory": "2Gi"}})
    spawner = SimpleNamespace(namespace="jupyter-a", user=SimpleNamespace(name="a"))
    plan = helper.plan(spawner)
    assert plan.limit_range == ({"type": "Container", "default": {"memory": "2Gi"}},)


def test_quota_per_user_by_callable():
    def quota(spawner):
        return {"requests.nvidia.com/gpu": 2} if spawner.user.name == "gpu-user" else None

    helper = UserNamespaces(quota=quota)
    gpu = SimpleNamespace(namespace="jupyter-gpu-user", user=SimpleNamespace(name="gpu-user"))
    other = SimpleNamespace(namespace="jupyter-other", user=SimpleNamespace(name="other"))
    assert helper.plan(gpu).quota == {"requests.nvidia.com/gpu": 2}
    assert helper.plan(other).quota is None


def test_bad_namespace_from_template_is_a_spawn_error():
    helper = UserNamespaces()
    spawner = SimpleNamespace(namespace="x" * 70, user=SimpleNamespace(name="a"))
    with pytest.raises(UserNamespaceError, match="not a valid namespace name"):
        helper.plan(spawner)


# -- the configuration set on KubeSpawner ----------------------------------------------------------


@pytest.fixture
def kubeconfig(monkeypatch):
    """KubeSpawner loads a cluster configuration when it is made (once per process, from
    $KUBECONFIG as it was at import): these tests make no call to a cluster, so skip that."""
    spawner_module = pytest.importorskip("kubespawner.spawner")
    monkeypatch.setattr(spawner_module, "load_config", lambda *a, **k: None)


def make_spawner(c: Config, name: str = "user-a@example.com"):
    from kubespawner import KubeSpawner

    user = SimpleNamespace(name=name, id=7, url=f"/user/{name}/", escaped_name=name)
    return KubeSpawner(config=c, _mock=True, user=user)


async def test_setup_configures_kubespawner(kubeconfig):
    pytest.importorskip("kubespawner")
    c = Config()
    helper = setup_user_namespaces(c, namespace_template="jupyter-{username}", quota={"pods": 5})
    spawner = make_spawner(c)
    assert spawner.enable_user_namespaces is True
    # KubeSpawner's safe slug: the name is not a valid label, so it is hashed (collision-free)
    assert spawner.namespace.startswith("jupyter-user-a-example-com---")
    assert len(spawner.namespace) <= 63
    assert spawner.service_account == "jupyter-k8s" == helper.service_account
    assert spawner.automount_service_account_token is True
    assert spawner.pre_spawn_hook == helper.pre_spawn_hook
    assert spawner.modify_pod_hook == helper.modify_pod_hook
    assert spawner.user_namespace_labels["pod-security.kubernetes.io/enforce"] == "restricted"

    pod = pod_json(await spawner.get_pod_manifest())
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "jupyter-k8s"
    assert spec["automountServiceAccountToken"] is True
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    security = spec["containers"][0]["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    # The NetworkPolicy lets exactly this pod in.
    for key, value in GOLDEN_NETWORK_POLICY["spec"]["ingress"][0]["from"][0]["podSelector"][
        "matchLabels"
    ].items():
        assert pod["metadata"]["labels"][key] == value
    # The extension reads the namespace from the pod's token volume: nothing per user.
    assert not any(e["name"].startswith("JUPYTER_K8S") for e in spec["containers"][0]["env"])


async def test_two_users_get_two_namespaces(kubeconfig):
    pytest.importorskip("kubespawner")
    c = Config()
    setup_user_namespaces(c, namespace_template="jupyter-{username}")
    names = ["user-a@example.com", "user-a-example-com", "user-a-example.com-42788843", "User-A"]
    namespaces = {make_spawner(c, n).namespace for n in names}
    assert len(namespaces) == len(names)


async def test_setup_keeps_configured_hooks_and_security(kubeconfig, monkeypatch):
    pytest.importorskip("kubespawner")
    calls: list[str] = []

    def mine(spawner):
        calls.append("admin's pre_spawn_hook")

    async def modify(spawner, pod):
        calls.append("admin's modify_pod_hook")
        pod.metadata.labels["extra"] = "yes"
        return pod

    c = Config()
    c.Spawner.pre_spawn_hook = mine
    c.KubeSpawner.modify_pod_hook = modify
    c.KubeSpawner.container_security_context = {"readOnlyRootFilesystem": True, "runAsUser": 0}
    helper = setup_user_namespaces(c, check_pod=True)

    async def ensure(spawner):
        calls.append("ensure")
        spawner._jupyter_k8s_namespace = spawner.namespace

    admitted: list[dict] = []

    async def admit(client, plan, pod):
        admitted.append(pod_json(pod))

    helper.ensure = ensure  # type: ignore[method-assign]
    helper.client = _no_client  # type: ignore[method-assign]
    monkeypatch.setattr(hub, "admit_pod", admit)
    spawner = make_spawner(c)
    await spawner.pre_spawn_hook(spawner)
    pod = await spawner.modify_pod_hook(spawner, await spawner.get_pod_manifest())
    assert calls == ["admin's pre_spawn_hook", "ensure", "admin's modify_pod_hook"]
    assert pod.metadata.labels["extra"] == "yes"
    assert admitted and admitted[0]["metadata"]["labels"]["extra"] == "yes"
    security = admitted[0]["spec"]["containers"][0]["securityContext"]
    assert security["readOnlyRootFilesystem"] is True  # kept
    assert security["runAsNonRoot"] is True  # restricted wins over runAsUser 0
    assert security["runAsUser"] == 0  # still refused by Pod Security: the dry run says so


async def _no_client():
    return None


# -- applying, against a fake API ------------------------------------------------------------------


class FakeAPI:
    """Just enough of KubeClient.request: objects by path, refusals by (method, path prefix)."""

    def __init__(self):
        self.objects: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []
        self.refuse: dict[tuple[str, str], KubeError] = {}
        self.version = 0

    async def request(self, method: str, path: str, *, params=None, body=None, **_: Any) -> Any:
        self.calls.append((method, path))
        for (m, prefix), exc in self.refuse.items():
            if m == method and path.startswith(prefix):
                raise exc
        if method == "GET":
            if path not in self.objects:
                raise NotFound(404, "NotFound", f"{path} not found")
            return copy.deepcopy(self.objects[path])
        if method == "POST":
            if params and params.get("dryRun"):
                return body
            key = f"{path}/{body['metadata']['name']}"
            if key in self.objects:
                raise Conflict(409, "AlreadyExists", "exists")
            self.version += 1
            stored = copy.deepcopy(body)
            stored["metadata"]["resourceVersion"] = str(self.version)
            self.objects[key] = self._controllers(stored)
            return stored
        if method in ("PUT", "PATCH"):
            self.version += 1
            stored = self.objects[path]
            if method == "PUT":
                stored = copy.deepcopy(body)
            else:
                for k, v in body["metadata"].items():
                    stored["metadata"].setdefault(k, {}).update(v)
            stored["metadata"]["resourceVersion"] = str(self.version)
            self.objects[path] = self._controllers(stored)
            return stored
        raise AssertionError(method)

    @staticmethod
    def _controllers(obj: dict) -> dict:
        if obj.get("kind") == "ResourceQuota":  # the quota controller counts it
            obj["status"] = {"hard": dict(obj["spec"]["hard"])}
        return obj


async def test_ensure_creates_then_changes_nothing():
    api = FakeAPI()
    first = await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    # GET + POST each, and one GET of the new quota's status
    assert first.count("created") == 7 and first.calls == 15
    versions = {k: v["metadata"]["resourceVersion"] for k, v in api.objects.items()}
    second = await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    assert second.count("unchanged") == 7 and second.calls == 7
    assert {k: v["metadata"]["resourceVersion"] for k, v in api.objects.items()} == versions
    # The binding is applied after the Role it names.
    posts = [p for m, p in api.calls if m == "POST"]
    assert posts[-1].endswith("/rolebindings")


async def test_ensure_puts_back_what_drifted():
    api = FakeAPI()
    await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    ns_path = "/api/v1/namespaces/jupyter-user-a"
    quota_path = "/api/v1/namespaces/jupyter-user-a/resourcequotas/jupyter-k8s"
    api.objects[ns_path]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"
    api.objects[ns_path]["metadata"]["labels"]["team"] = "x"
    api.objects[quota_path]["spec"]["hard"]["pods"] = "100"
    report = await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    assert report.outcomes["Namespace/jupyter-user-a"] == "updated"
    assert report.outcomes["ResourceQuota/jupyter-k8s"] == "updated"
    assert report.count("unchanged") == 5
    labels = api.objects[ns_path]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted" and labels["team"] == "x"
    assert api.objects[quota_path]["spec"]["hard"]["pods"] == "20"


async def test_quantities_in_canonical_form_are_not_a_change():
    api = FakeAPI()
    await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    quota_path = "/api/v1/namespaces/jupyter-user-a/resourcequotas/jupyter-k8s"
    api.objects[quota_path]["spec"]["hard"]["requests.memory"] = "32768Mi"
    report = await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    assert report.count("unchanged") == 7


@pytest.mark.parametrize(
    "annotations, whose",
    [(None, "no JupyterHub user"), ({ANN_HUB_USER: "user-b"}, "user 'user-b'")],
)
async def test_a_namespace_of_someone_else_is_not_taken_over(annotations, whose):
    api = FakeAPI()
    meta: dict = {"name": "jupyter-user-a", "resourceVersion": "1"}
    if annotations:
        meta["annotations"] = annotations
    api.objects["/api/v1/namespaces/jupyter-user-a"] = {"kind": "Namespace", "metadata": meta}
    with pytest.raises(UserNamespaceError) as err:
        await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    message = str(err.value)
    assert f"belongs to {whose}" in message and "kubectl annotate namespace" in message
    assert [m for m, _ in api.calls] == ["GET"]  # nothing written


async def test_terminating_namespace_says_try_again():
    api = FakeAPI()
    api.objects["/api/v1/namespaces/jupyter-user-a"] = {
        "kind": "Namespace",
        "metadata": {"name": "jupyter-user-a", "annotations": {ANN_HUB_USER: PLAN.username}},
        "status": {"phase": "Terminating"},
    }
    with pytest.raises(UserNamespaceError, match="being deleted; try again"):
        await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]


async def test_rbac_refusal_names_the_object_and_the_fix():
    api = FakeAPI()
    message = (
        'networkpolicies.networking.k8s.io is forbidden: User "system:serviceaccount:hub:hub" '
        'cannot create resource "networkpolicies" in API group "networking.k8s.io" in the '
        'namespace "jupyter-user-a"'
    )
    api.refuse[("POST", "/apis/networking.k8s.io")] = Forbidden(403, "Forbidden", message)
    with pytest.raises(UserNamespaceError) as err:
        await ensure_user_namespace(api, PLAN)  # type: ignore[arg-type]
    exc = err.value
    text = str(exc)
    assert "NetworkPolicy/jupyter-k8s-kernels in namespace jupyter-user-a" in text
    assert message in text and "hub-rbac.yaml" in text
    assert exc.status == 403 and exc.reason == "jupyter-k8s-rbac"
    assert exc.jupyterhub_message == text
    from jupyterhub.spawner import SpawnException

    assert isinstance(exc, SpawnException)


async def test_pod_dry_run_refusals_say_what_to_do():
    api = FakeAPI()
    quota_msg = (
        'pods "jupyter-user-a" is forbidden: exceeded quota: jupyter-k8s, requested: pods=1, '
        "used: pods=0, limited: pods=0"
    )
    api.refuse[("POST", "/api/v1/namespaces/jupyter-user-a/pods")] = Forbidden(
        403, "Forbidden", quota_msg
    )
    pod = {"metadata": {"name": "jupyter-user-a"}, "spec": {"containers": []}}
    with pytest.raises(UserNamespaceError) as err:
        await admit_pod(api, PLAN, pod)  # type: ignore[arg-type]
    assert quota_msg in str(err.value) and "describe resourcequota" in str(err.value)
    assert err.value.reason == "jupyter-k8s-quota"

    api.refuse[("POST", "/api/v1/namespaces/jupyter-user-a/pods")] = Forbidden(
        403,
        "Forbidden",
        'pods "jupyter-user-a" is forbidden: failed quota: jupyter-k8s: must specify '
        "requests.memory for: notebook",
    )
    with pytest.raises(UserNamespaceError, match="limit_range=") as err:
        await admit_pod(api, PLAN, pod)  # type: ignore[arg-type]
    assert "does not leave room" not in str(err.value)

    psa_msg = (
        'pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true'
    )
    api.refuse[("POST", "/api/v1/namespaces/jupyter-user-a/pods")] = Forbidden(
        403, "Forbidden", psa_msg
    )
    with pytest.raises(UserNamespaceError, match="must meet Pod Security") as err:
        await admit_pod(api, PLAN, pod)  # type: ignore[arg-type]
    assert err.value.reason == "jupyter-k8s-pod-security"

    # An old pod of that name: KubeSpawner deletes it and retries; not ours to refuse.
    api.refuse[("POST", "/api/v1/namespaces/jupyter-user-a/pods")] = Conflict(
        409, "AlreadyExists", "exists"
    )
    await admit_pod(api, PLAN, pod)  # type: ignore[arg-type]


async def test_pod_dry_run_sends_dry_run_all():
    seen = {}

    class Recorder:
        async def request(self, method, path, *, params=None, body=None, **_):
            seen.update(method=method, path=path, params=params, body=body)

    await admit_pod(Recorder(), PLAN, {"metadata": {"name": "p"}})  # type: ignore[arg-type]
    assert seen["params"] == {"dryRun": "All"}
    assert seen["path"] == "/api/v1/namespaces/jupyter-user-a/pods"
    assert seen["body"]["kind"] == "Pod" and seen["body"]["apiVersion"] == "v1"


async def test_a_slow_api_is_a_spawn_error_not_a_hang():
    import asyncio

    class Slow:
        async def request(self, *a, **k):
            await asyncio.sleep(30)

    helper = UserNamespaces(timeout=0.2)
    helper._client = Slow()  # type: ignore[assignment]
    helper._loop = asyncio.get_running_loop()
    spawner = SimpleNamespace(namespace="jupyter-a", user=SimpleNamespace(name="a"), log=None)
    with pytest.raises(UserNamespaceError, match="took more than 0 s"):
        await helper.pre_spawn_hook(spawner)


def test_pod_json_of_a_model():
    from kubernetes_asyncio.client import V1Container, V1ObjectMeta, V1Pod, V1PodSpec

    pod = V1Pod(
        metadata=V1ObjectMeta(name="p", labels={"a": "b"}),
        spec=V1PodSpec(
            containers=[V1Container(name="c", image="i")], automount_service_account_token=True
        ),
    )
    assert pod_json(pod) == {
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}], "automountServiceAccountToken": True},
    }
