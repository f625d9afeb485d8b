"""Container environments computed like the kubelet's makeEnvironmentVariables."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from jupyter_k8s.devcluster.agent.envvars import (
    ContainerConfigError,
    Fetch,
    container_env,
    expand,
    expand_command,
    field_ref_value,
    format_map,
    resource_field_value,
)
from jupyter_k8s.k8s.client import KubeError, NotFound

NS = "ns"
ALLOCATABLE = {"cpu": "8", "memory": "16Gi", "ephemeral-storage": "100Gi"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def make_fetch(
    objects: dict[tuple[str, str], dict[str, Any]], calls: list[tuple[str, str, str]] | None = None
) -> Fetch:
    """A fetch over (plural, name) -> object in namespace NS; records each call."""

    async def fetch(plural: str, namespace: str, name: str) -> dict[str, Any]:
        if calls is not None:
            calls.append((plural, namespace, name))
        obj = objects.get((plural, name)) if namespace == NS else None
        if obj is None:
            raise NotFound(404, "NotFound", f'{plural} "{name}" not found')
        return obj

    return fetch


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {k: b64(v) for k, v in data.items()}}


def configmap(name: str, binary: dict[str, bytes] | None = None, **data: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name}, "data": dict(data)}
    if binary:
        obj["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
    return obj


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": NS,
            "uid": "uid-123",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": 'say "hi"'},
        },
        "spec": {"nodeName": "dev-node", "serviceAccountName": "runner", **spec},
        "status": {
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
            "hostIP": "192.168.1.2",
            "hostIPs": [{"ip": "192.168.1.2"}],
        },
    }


async def env_of(
    container: dict[str, Any],
    objects: dict[tuple[str, str], dict[str, Any]] | None = None,
    base: dict[str, str] | None = None,
    the_pod: dict[str, Any] | None = None,
) -> dict[str, str]:
    the_pod = the_pod or pod(containers=[container])
    return await container_env(
        the_pod,
        container,
        make_fetch(objects or {}),
        base=base if base is not None else {"PATH": "/usr/bin"},
        node_allocatable=ALLOCATABLE,
    )


# --- $(VAR) expansion -----------------------------------------------------------------------

VARS = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_EMPTY": "", "BIG_MONEY": "$$$"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_B)", "A-B"),
        ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
        ("$(VAR_EMPTY)x", "x"),
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        ("$$$(VAR_A)", "$A"),
        ("$$$$(VAR_A)", "$$(VAR_A)"),
        ("$$$$$$$(BIG_MONEY)", "$$$$$$"),
        ("$(VAR_A", "$(VAR_A"),
        ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
        ("f000-$$VAR_A", "f000-$VAR_A"),
        ("$VAR_A", "$VAR_A"),
        ("${VAR_A}", "${VAR_A}"),
        ("$", "$"),
        ("$$", "$"),
        ("a$", "a$"),
        ("$(", "$("),
        ("$()", "$()"),
        ("no refs", "no refs"),
        ("", ""),
    ],
)
def test_expand_matches_kubernetes(text: str, expected: str) -> None:
    assert expand(text, VARS) == expected


def test_expand_command() -> None:
    env = {"NAME": "world", "N": "3"}
    words = ["echo", "hello $(NAME)", "$$(NAME)", "$(MISSING)", "-n=$(N)"]
    assert expand_command(words, env) == ["echo", "hello world", "$(NAME)", "$(MISSING)", "-n=3"]


# --- downward API helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "web-1"),
        ("metadata.namespace", NS),
        ("metadata.uid", "uid-123"),
        ("metadata.labels['app']", "web"),
        ('metadata.labels["tier"]', "front"),
        ("metadata.labels['missing']", ""),
        ("metadata.annotations['note']", 'say "hi"'),
        ("spec.nodeName", "dev-node"),
        ("spec.serviceAccountName", "runner"),
        ("status.podIP", "10.0.0.5"),
        ("status.podIPs", "10.0.0.5,fd00::5"),
        ("status.hostIP", "192.168.1.2"),
        ("status.hostIPs", "192.168.1.2"),
        ("metadata.labels", 'app="web"\ntier="front"'),
        ("metadata.annotations", 'note="say \\"hi\\""'),
    ],
)
def test_field_ref_value(path: str, value: str) -> None:
    assert field_ref_value(pod(), path) == value


def test_field_ref_pod_ips_fall_back_to_pod_ip() -> None:
    p = pod()
    del p["status"]["podIPs"]
    assert field_ref_value(p, "status.podIPs") == "10.0.0.5"


@pytest.mark.parametrize("path", ["spec.containers", "metadata.labels[app]", "status.phase", ""])
def test_field_ref_unsupported(path: str) -> None:
    with pytest.raises(ValueError, match="unsupported fieldPath"):
        field_ref_value(pod(), path)


def test_format_map_sorts_and_quotes() -> None:
    assert format_map({"b": "x\ny", "a": "tab\there"}) == 'a="tab\\there"\nb="x\\ny"'


CONTAINER = {
    "name": "main",
    "resources": {
        "limits": {"cpu": "250m", "memory": "100Mi"},
        "requests": {"cpu": "100m", "memory": "64Mi"},
    },
}


@pytest.mark.parametrize(
    ("resource", "divisor", "value"),
    [
        ("limits.cpu", None, "1"),  # 250m rounded up to whole cores
        ("limits.cpu", "1m", "250"),
        ("requests.cpu", "1m", "100"),
        ("requests.cpu", "0", "1"),  # a zero divisor means the default 1
        ("limits.memory", None, str(100 * 1024 * 1024)),
        ("limits.memory", "1Mi", "100"),
        ("limits.memory", "1M", "105"),  # 104.8576 rounded up
        ("requests.memory", "1Mi", "64"),
        ("limits.ephemeral-storage", "1Gi", "100"),  # from node allocatable
        ("requests.ephemeral-storage", None, "0"),  # no request: zero
    ],
)
def test_resource_field_value(resource: str, divisor: str | None, value: str) -> None:
    ref: dict[str, Any] = {"resource": resource}
    if divisor is not None:
        ref["divisor"] = divisor
    assert resource_field_value(pod(containers=[CONTAINER]), ref, ALLOCATABLE, CONTAINER) == value


def test_resource_field_missing_or_zero_limit_uses_allocatable() -> None:
    bare = {"name": "bare", "resources": {"limits": {"cpu": "0"}}}
    the_pod = pod(containers=[bare])
    assert resource_field_value(the_pod, {"resource": "limits.cpu"}, ALLOCATABLE, bare) == "8"
    ref = {"resource": "limits.memory", "divisor": "1Gi"}
    assert resource_field_value(the_pod, ref, ALLOCATABLE, bare) == "16"
    assert resource_field_value(the_pod, {"resource": "requests.cpu"}, ALLOCATABLE, bare) == "0"


def test_resource_field_by_container_name_includes_init_containers() -> None:
    init = {"name": "setup", "resources": {"limits": {"cpu": "2"}}}
    the_pod = pod(containers=[CONTAINER], initContainers=[init])
    ref = {"containerName": "setup", "resource": "limits.cpu", "divisor": "1m"}
    assert resource_field_value(the_pod, ref, ALLOCATABLE, CONTAINER) == "2000"
    with pytest.raises(ValueError, match="not found"):
        resource_field_value(the_pod, {**ref, "containerName": "nope"}, ALLOCATABLE, CONTAINER)


@pytest.mark.parametrize("resource", ["limits.gpu", "cpu", "limits.", "other.cpu"])
def test_resource_field_unsupported(resource: str) -> None:
    with pytest.raises(ValueError, match="unsupported container resource"):
        resource_field_value(pod(), {"resource": resource}, ALLOCATABLE, CONTAINER)


# --- container_env --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_base_then_env_from_then_env() -> None:
    container = {
        "name": "main",
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "env": [{"name": "B", "value": "from-env"}],
    }
    objects = {("configmaps", "cfg"): configmap("cfg", A="from-cm", B="from-cm")}
    env = await env_of(container, objects, base={"A": "base", "B": "base", "PATH": "/bin"})
    assert env == {"A": "from-cm", "B": "from-env", "PATH": "/bin"}


@pytest.mark.asyncio
async def test_value_expansion_sees_only_earlier_vars() -> None:
    container = {
        "name": "main",
        "env": [
            {"name": "FIRST", "value": "1"},
            {"name": "BOTH", "value": "$(FIRST)-$(LATER)-$(PATH)-$$(FIRST)"},
            {"name": "LATER", "value": "2"},
            {"name": "EMPTY"},
        ],
    }
    env = await env_of(container)
    assert env["BOTH"] == "1-$(LATER)-/usr/bin-$(FIRST)"
    assert env["EMPTY"] == ""


@pytest.mark.asyncio
async def test_env_from_prefix_secret_and_skipped_names() -> None:
    container = {
        "name": "main",
        "envFrom": [
            {"prefix": "CM_", "configMapRef": {"name": "cfg"}},
            {"secretRef": {"name": "db"}},
        ],
    }
    objects = {
        ("configmaps", "cfg"): configmap("cfg", binary={"BIN": b"x"}, host="h", **{"a=b": "bad"}),
        ("secrets", "db"): secret("db", password="s3cret", REF="$(CM_host)"),
    }
    env = await env_of(container, objects, base={})
    # binaryData is not in envFrom, names with "=" are skipped, values are never expanded.
    assert env == {"CM_host": "h", "password": "s3cret", "REF": "$(CM_host)"}


@pytest.mark.asyncio
async def test_env_from_optional_and_missing() -> None:
    optional = {"name": "m", "envFrom": [{"secretRef": {"name": "gone", "optional": True}}]}
    assert await env_of(optional, base={}) == {}
    required = {"name": "m", "envFrom": [{"configMapRef": {"name": "gone"}}]}
    with pytest.raises(ContainerConfigError, match='^configmap "gone" not found$'):
        await env_of(required)


@pytest.mark.asyncio
async def test_secret_key_ref() -> None:
    container = {
        "name": "main",
        "env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "URL", "value": "postgres://u:$(PW)@db"},
        ],
    }
    env = await env_of(container, {("secrets", "db"): secret("db", password="p@ss")})
    assert env["PW"] == "p@ss"
    assert env["URL"] == "postgres://u:p@ss@db"


@pytest.mark.asyncio
async def test_secret_key_ref_errors_match_kubelet() -> None:
    missing_secret = {
        "name": "m",
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
    }
    with pytest.raises(ContainerConfigError, match='^secret "db" not found$'):
        await env_of(missing_secret)
    with pytest.raises(ContainerConfigError, match="^couldn't find key password in Secret ns/db$"):
        await env_of(missing_secret, {("secrets", "db"): secret("db", user="u")})


@pytest.mark.asyncio
async def test_optional_key_refs_leave_the_variable_unset() -> None:
    container = {
        "name": "m",
        "env": [
            {
                "name": "A",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}},
            },
            {
                "name": "B",
                "valueFrom": {"configMapKeyRef": {"name": "none", "key": "k", "optional": True}},
            },
            {
                "name": "C",
                "valueFrom": {"secretKeyRef": {"name": "none", "key": "k", "optional": True}},
            },
        ],
    }
    env = await env_of(container, {("secrets", "s"): secret("s")}, base={"A": "base"})
    assert env == {"A": "base"}


@pytest.mark.asyncio
async def test_configmap_key_ref_ignores_binary_data() -> None:
    container = {
        "name": "m",
        "env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "v"}}}],
    }
    objects = {("configmaps", "cfg"): configmap("cfg", v="text")}
    assert (await env_of(container, objects))["V"] == "text"
    objects = {("configmaps", "cfg"): configmap("cfg", binary={"v": b"bin"})}
    with pytest.raises(ContainerConfigError, match="^couldn't find key v in ConfigMap ns/cfg$"):
        await env_of(container, objects)


@pytest.mark.asyncio
async def test_each_object_is_fetched_once() -> None:
    calls: list[tuple[str, str, str]] = []
    container = {
        "name": "m",
        "envFrom": [
            {"secretRef": {"name": "db"}},
            {"secretRef": {"name": "gone", "optional": True}},
        ],
        "env": [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "a"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "b"}}},
            {
                "name": "C",
                "valueFrom": {"secretKeyRef": {"name": "gone", "key": "c", "optional": True}},
            },
        ],
    }
    fetch = make_fetch({("secrets", "db"): secret("db", a="1", b="2")}, calls)
    the_pod = pod(containers=[container])
    env = await container_env(the_pod, container, fetch, base={}, node_allocatable=ALLOCATABLE)
    assert env == {"a": "1", "b": "2", "A": "1", "B": "2"}
    assert calls == [("secrets", NS, "db"), ("secrets", NS, "gone")]


@pytest.mark.asyncio
async def test_field_and_resource_refs() -> None:
    container = {
        **CONTAINER,
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {
                "name": "MEM_MI",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {
                "name": "STORAGE",
                "valueFrom": {
                    "resourceFieldRef": {"resource": "limits.ephemeral-storage", "divisor": "1Gi"}
                },
            },
        ],
    }
    env = await env_of(container)
    assert env["POD"] == "web-1"
    assert env["IPS"] == "10.0.0.5,fd00::5"
    assert env["APP"] == "web"
    assert env["MEM_MI"] == "100"
    assert env["CPUS"] == "1"
    assert env["STORAGE"] == "100"


@pytest.mark.parametrize(
    ("value_from", "message"),
    [
        ({"fieldRef": {"fieldPath": "spec.bogus"}}, "unsupported fieldPath: spec.bogus"),
        ({"resourceFieldRef": {"resource": "limits.gpu"}}, "unsupported container resource"),
        ({"fileKeyRef": {"path": "x", "key": "k"}}, "unsupported valueFrom"),
    ],
)
@pytest.mark.asyncio
async def test_bad_refs_are_config_errors(value_from: dict[str, Any], message: str) -> None:
    container = {"name": "m", "env": [{"name": "X", "valueFrom": value_from}]}
    with pytest.raises(ContainerConfigError, match=message):
        await env_of(container)


@pytest.mark.asyncio
async def test_non_utf8_secret_bytes_survive() -> None:
    raw = b"\xff\xfe-ok"
    obj = {"metadata": {"name": "s"}, "data": {"k": base64.b64encode(raw).decode()}}
    container = {
        "name": "m",
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    }
    env = await env_of(container, {("secrets", "s"): obj})
    assert env["X"].encode("utf-8", "surrogateescape") == raw


@pytest.mark.asyncio
async def test_other_api_errors_propagate() -> None:
    async def broken(plural: str, namespace: str, name: str) -> dict[str, Any]:
        raise KubeError(500, "InternalError", "etcd is sad")

    container = {"name": "m", "envFrom": [{"secretRef": {"name": "s", "optional": True}}]}
    with pytest.raises(KubeError, match="etcd is sad"):
        await container_env(pod(), container, broken, base={}, node_allocatable=ALLOCATABLE)


@pytest.mark.asyncio
async def test_empty_name_is_never_fetched() -> None:
    calls: list[tuple[str, str, str]] = []
    container = {"name": "m", "envFrom": [{"secretRef": {"name": ""}}]}
    with pytest.raises(ContainerConfigError, match='^secret "" not found$'):
        await container_env(
            pod(), container, make_fetch({}, calls), base={}, node_allocatable=ALLOCATABLE
        )
    assert calls == []
