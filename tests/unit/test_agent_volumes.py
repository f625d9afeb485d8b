"""Pod volumes materialised on the host, and container mounts of them."""

from __future__ import annotations

import base64
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_k8s.devcluster.agent.envvars import Fetch
from jupyter_k8s.devcluster.agent.volumes import (
    Mount,
    VolumeError,
    atomic_write,
    container_mounts,
    prepare_volumes,
    read_only_volumes,
    write_payload,
)
from jupyter_k8s.k8s.client import NotFound

NS = "ns"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def strict_umask() -> Iterator[None]:
    """Modes must not depend on the umask; a strict one makes that visible."""
    old = os.umask(0o077)
    yield
    os.umask(old)


class Api:
    """A fake API: objects by (plural, namespace, name), token requests recorded."""

    def __init__(self, **objects: dict[str, Any]):
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.tokens: list[tuple[str | None, int]] = []
        self.calls: list[tuple[str, str, str]] = []

    def add(self, plural: str, name: str, obj: dict[str, Any], namespace: str = NS) -> None:
        self.objects[(plural, namespace, name)] = obj

    @property
    def fetch(self) -> Fetch:
        async def fetch(plural: str, namespace: str, name: str) -> dict[str, Any]:
            self.calls.append((plural, namespace, name))
            try:
                return self.objects[(plural, namespace, name)]
            except KeyError:
                raise NotFound(404, "NotFound", f'{plural} "{name}" not found') from None

        return fetch

    async def request_token(self, audience: str | None, expiration: int) -> str:
        self.tokens.append((audience, expiration))
        return f"token-for-{audience}-{expiration}"


def pod(*volumes: dict[str, Any], containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": NS, "uid": "u1", "labels": {"app": "web"}},
        "spec": {
            "volumes": list(volumes),
            "containers": containers or [{"name": "main"}],
            "nodeName": "dev-node",
        },
    }


async def prepare(api: Api, tmp_path: Path, *volumes: dict[str, Any], **kw: Any) -> dict[str, Path]:
    the_pod = kw.pop("the_pod", None) or pod(*volumes)
    return await prepare_volumes(the_pod, tmp_path / "pod", api.fetch, api.request_token, **kw)


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- secret and configMap -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_secret_whole(tmp_path: Path) -> None:
    api = Api()
    api.add("secrets", "db", {"data": {"user": b64("admin"), "password": b64("pw")}})
    paths = await prepare(api, tmp_path, {"name": "creds", "secret": {"secretName": "db"}})
    target = paths["creds"]
    assert target == tmp_path / "pod" / "volumes" / "creds"
    assert files_under(target) == {"user": b"admin", "password": b"pw"}
    assert mode_of(target / "user") == 0o644
    assert mode_of(target) == 0o755
    assert mode_of(tmp_path / "pod" / "volumes") == 0o755


@pytest.mark.asyncio
async def test_secret_items_modes_and_nested_paths(tmp_path: Path) -> None:
    api = Api()
    api.add("secrets", "tls", {"data": {"crt": b64("C"), "key": b64("K"), "extra": b64("E")}})
    volume = {
        "name": "tls",
        "secret": {
            "secretName": "tls",
            "defaultMode": 0o440,
            "items": [
                {"key": "crt", "path": "certs/tls.crt"},
                {"key": "key", "path": "k", "mode": 0o400},
            ],
        },
    }
    target = (await prepare(api, tmp_path, volume))["tls"]
    assert files_under(target) == {"certs/tls.crt": b"C", "k": b"K"}
    assert mode_of(target / "certs" / "tls.crt") == 0o440
    assert mode_of(target / "k") == 0o400
    assert mode_of(target / "certs") == 0o755


@pytest.mark.asyncio
async def test_secret_missing(tmp_path: Path) -> None:
    api = Api()
    with pytest.raises(VolumeError) as err:
        await prepare(api, tmp_path, {"name": "v", "secret": {"secretName": "db"}})
    assert str(err.value) == 'secret "db" not found'
    assert err.value.reason == "FailedMount"
    assert err.value.volume == "v"
    optional = {"name": "v", "secret": {"secretName": "db", "optional": True}}
    target = (await prepare(api, tmp_path, optional))["v"]
    assert target.is_dir() and files_under(target) == {}


@pytest.mark.asyncio
async def test_missing_keys(tmp_path: Path) -> None:
    api = Api()
    api.add("secrets", "s", {"data": {"a": b64("1")}})
    api.add("configmaps", "c", {"data": {"a": "1"}})
    items = [{"key": "a", "path": "a"}, {"key": "b", "path": "b"}]
    with pytest.raises(VolumeError, match="^references non-existent secret key: b$"):
        await prepare(api, tmp_path, {"name": "v", "secret": {"secretName": "s", "items": items}})
    with pytest.raises(VolumeError, match="^configmap references non-existent config key: b$"):
        await prepare(api, tmp_path, {"name": "v", "configMap": {"name": "c", "items": items}})
    optional = {"name": "v", "secret": {"secretName": "s", "items": items, "optional": True}}
    assert files_under((await prepare(api, tmp_path, optional))["v"]) == {"a": b"1"}


@pytest.mark.asyncio
async def test_configmap_data_and_binary_data(tmp_path: Path) -> None:
    api = Api()
    api.add(
        "configmaps", "c", {"data": {"conf.ini": "x=1\n"}, "binaryData": {"blob": b64(b"\0\1")}}
    )
    target = (await prepare(api, tmp_path, {"name": "cfg", "configMap": {"name": "c"}}))["cfg"]
    assert files_under(target) == {"conf.ini": b"x=1\n", "blob": b"\0\1"}
    with pytest.raises(VolumeError, match='^configmap "other" not found$'):
        await prepare(api, tmp_path, {"name": "cfg2", "configMap": {"name": "other"}})


@pytest.mark.asyncio
async def test_rewrite_replaces_content_and_removes_stale_files(tmp_path: Path) -> None:
    api = Api()
    api.add("secrets", "s", {"data": {"old": b64("1"), "keep": b64("a")}})
    volume = {"name": "v", "secret": {"secretName": "s"}}
    target = (await prepare(api, tmp_path, volume))["v"]
    api.add("secrets", "s", {"data": {"keep": b64("b"), "new": b64("2")}})
    await prepare(api, tmp_path, volume)
    assert files_under(target) == {"keep": b"b", "new": b"2"}
    assert not [p for p in target.iterdir() if p.name.startswith(".")]  # no temp files left


def test_write_payload_replaces_dirs_files_and_prunes(tmp_path: Path) -> None:
    target = tmp_path / "v"
    write_payload(target, {"a/b": (b"1", 0o600), "c": (b"2", 0o644)})
    write_payload(target, {"a": (b"now a file", 0o644), "c/d": (b"3", 0o644)})
    assert files_under(target) == {"a": b"now a file", "c/d": b"3"}
    for bad in ("/abs", "../up", "a/../../x", ""):
        with pytest.raises(VolumeError, match="invalid path"):
            write_payload(target, {bad: (b"", 0o644)})


def test_atomic_write_mode_is_exact(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    atomic_write(dest, b"one", 0o600)
    atomic_write(dest, b"two", 0o755)
    assert dest.read_bytes() == b"two"
    assert mode_of(dest) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


# --- emptyDir and hostPath ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_empty_dir_survives_prepare_again(tmp_path: Path) -> None:
    api = Api()
    volume = {"name": "scratch", "emptyDir": {"medium": "Memory"}}
    target = (await prepare(api, tmp_path, volume))["scratch"]
    assert target.is_dir() and mode_of(target) == 0o755
    (target / "work").write_text("data")
    await prepare(api, tmp_path, volume)
    assert (target / "work").read_text() == "data"


@pytest.mark.asyncio
async def test_host_path_types(tmp_path: Path) -> None:
    api = Api()
    made = tmp_path / "made" / "deep"
    paths = await prepare(
        api,
        tmp_path,
        {"name": "d", "hostPath": {"path": str(made), "type": "DirectoryOrCreate"}},
        {"name": "f", "hostPath": {"path": str(tmp_path / "f.txt"), "type": "FileOrCreate"}},
        {"name": "any", "hostPath": {"path": str(tmp_path / "whatever")}},
    )
    assert paths == {"d": made, "f": tmp_path / "f.txt", "any": tmp_path / "whatever"}
    assert made.is_dir() and mode_of(made) == 0o755 and mode_of(made.parent) == 0o755
    assert (tmp_path / "f.txt").read_bytes() == b"" and mode_of(tmp_path / "f.txt") == 0o644
    # Existing ones pass their checks and are left alone.
    (tmp_path / "f.txt").write_text("keep")
    await prepare(
        api, tmp_path, {"name": "f", "hostPath": {"path": str(tmp_path / "f.txt"), "type": "File"}}
    )
    assert (tmp_path / "f.txt").read_text() == "keep"
    await prepare(
        api, tmp_path, {"name": "d", "hostPath": {"path": str(made), "type": "Directory"}}
    )


@pytest.mark.parametrize(
    ("kind", "make", "message"),
    [
        ("Directory", None, "is not a directory"),
        ("Directory", "file", "is not a directory"),
        ("DirectoryOrCreate", "file", "is not a directory"),
        ("File", None, "is not a file"),
        ("File", "dir", "is not a file"),
        ("FileOrCreate", "dir", "is not a file"),
        ("Socket", "file", "is not a socket file"),
        ("CharDevice", "file", "is not a character device"),
        ("BlockDevice", "file", "is not a block device"),
    ],
)
@pytest.mark.asyncio
async def test_host_path_type_check_failures(
    tmp_path: Path, kind: str, make: str | None, message: str
) -> None:
    path = tmp_path / "thing"
    if make == "file":
        path.write_text("")
    elif make == "dir":
        path.mkdir()
    volume = {"name": "h", "hostPath": {"path": str(path), "type": kind}}
    with pytest.raises(VolumeError) as err:
        await prepare(Api(), tmp_path, volume)
    assert str(err.value) == f"hostPath type check failed: {path} {message}"
    assert err.value.reason == "FailedMount"


@pytest.mark.asyncio
async def test_host_path_socket_and_char_device(tmp_path: Path) -> None:
    sock_path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(sock_path))
        volumes = (
            {"name": "s", "hostPath": {"path": str(sock_path), "type": "Socket"}},
            {"name": "n", "hostPath": {"path": "/dev/null", "type": "CharDevice"}},
        )
        assert (await prepare(Api(), tmp_path, *volumes))["s"] == sock_path
    finally:
        sock.close()


@pytest.mark.asyncio
async def test_host_path_bad_input(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="invalid volume type"):
        await prepare(Api(), tmp_path, {"name": "h", "hostPath": {"path": "/tmp", "type": "Weird"}})
    with pytest.raises(VolumeError, match="absolute"):
        await prepare(Api(), tmp_path, {"name": "h", "hostPath": {"path": "rel/path"}})
    # FileOrCreate does not create missing parent directories (as in the kubelet).
    missing_parent = tmp_path / "nope" / "f"
    with pytest.raises(VolumeError, match="No such file"):
        await prepare(
            Api(),
            tmp_path,
            {"name": "h", "hostPath": {"path": str(missing_parent), "type": "FileOrCreate"}},
        )


# --- persistentVolumeClaim ------------------------------------------------------------------


def claim(name: str, pv: str | None, phase: str = "Bound", uid: str = "c1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": uid},
        "spec": {"volumeName": pv} if pv else {},
        "status": {"phase": phase},
    }


@pytest.mark.asyncio
async def test_pvc_bound_host_path_and_local(tmp_path: Path) -> None:
    api = Api()
    api.add("persistentvolumeclaims", "data", claim("data", "pv-1"))
    api.add("persistentvolumeclaims", "fast", claim("fast", "pv-2", uid="c2"))
    pv_dir = tmp_path / "pvs" / "pv-1"
    api.add(
        "persistentvolumes",
        "pv-1",
        {"spec": {"hostPath": {"path": str(pv_dir)}, "claimRef": {"uid": "c1"}}},
        namespace="",
    )
    api.add(
        "persistentvolumes",
        "pv-2",
        {"spec": {"local": {"path": str(tmp_path / "local")}}},
        namespace="",
    )
    paths = await prepare(
        api,
        tmp_path,
        {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "f", "persistentVolumeClaim": {"claimName": "fast"}},
    )
    assert paths == {"d": pv_dir, "f": tmp_path / "local"}
    assert pv_dir.is_dir() and (tmp_path / "local").is_dir()
    assert ("persistentvolumes", "", "pv-1") in api.calls


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("none", 'persistentvolumeclaim "data" not found'),
        ("pending", 'persistentvolumeclaim "data" is not bound'),
        ("no-volume-name", 'persistentvolumeclaim "data" is not bound'),
        ("no-pv", 'persistentvolume "pv-1" not found'),
        ("no-path", 'persistentvolume "pv-1" has no hostPath or local path'),
        ("other-claim", "does not point to claim.UID c1"),
    ],
)
@pytest.mark.asyncio
async def test_pvc_failures(tmp_path: Path, setup: str, message: str) -> None:
    api = Api()
    if setup == "pending":
        api.add("persistentvolumeclaims", "data", claim("data", "pv-1", phase="Pending"))
    elif setup == "no-volume-name":
        api.add("persistentvolumeclaims", "data", claim("data", None))
    elif setup != "none":
        api.add("persistentvolumeclaims", "data", claim("data", "pv-1"))
    if setup == "no-path":
        api.add("persistentvolumes", "pv-1", {"spec": {"nfs": {"path": "/x"}}}, namespace="")
    if setup == "other-claim":
        spec = {"hostPath": {"path": str(tmp_path / "p")}, "claimRef": {"uid": "c0"}}
        api.add("persistentvolumes", "pv-1", {"spec": spec}, namespace="")
    with pytest.raises(VolumeError, match=message) as err:
        await prepare(api, tmp_path, {"name": "d", "persistentVolumeClaim": {"claimName": "data"}})
    assert err.value.reason == "FailedMount"
    assert err.value.volume == "d"


@pytest.mark.asyncio
async def test_ephemeral_volume_uses_the_generated_claim(tmp_path: Path) -> None:
    api = Api()
    api.add("persistentvolumeclaims", "web-1-scratch", claim("web-1-scratch", "pv-9"))
    api.add(
        "persistentvolumes",
        "pv-9",
        {"spec": {"hostPath": {"path": str(tmp_path / "e")}}},
        namespace="",
    )
    volume = {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}
    assert (await prepare(api, tmp_path, volume))["scratch"] == tmp_path / "e"


# --- projected and downwardAPI --------------------------------------------------------------


def kube_api_access() -> dict[str, Any]:
    """The volume the ServiceAccount admission plugin injects into every pod."""
    return {
        "name": "kube-api-access-abcde",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


@pytest.mark.asyncio
async def test_projected_service_account_volume(tmp_path: Path) -> None:
    api = Api()
    api.add("configmaps", "kube-root-ca.crt", {"data": {"ca.crt": "CA"}})
    target = (await prepare(api, tmp_path, kube_api_access()))["kube-api-access-abcde"]
    assert files_under(target) == {
        "token": b"token-for-None-3607",
        "ca.crt": b"CA",
        "namespace": b"ns",
    }
    assert api.tokens == [(None, 3607)]
    assert {mode_of(target / name) for name in ("token", "ca.crt", "namespace")} == {0o644}


@pytest.mark.asyncio
async def test_projected_modes_audience_and_defaults(tmp_path: Path) -> None:
    api = Api()
    api.add("secrets", "s", {"data": {"k": b64("v")}})
    volume = {
        "name": "p",
        "projected": {
            "defaultMode": 0o600,
            "sources": [
                {"serviceAccountToken": {"audience": "vault", "path": "vault/token"}},
                {"secret": {"name": "s", "items": [{"key": "k", "path": "k", "mode": 0o444}]}},
                {"secret": {"name": "gone", "optional": True}},
            ],
        },
    }
    target = (await prepare(api, tmp_path, volume))["p"]
    assert api.tokens == [("vault", 3600)]
    assert files_under(target) == {"vault/token": b"token-for-vault-3600", "k": b"v"}
    assert mode_of(target / "vault" / "token") == 0o600
    assert mode_of(target / "k") == 0o444


@pytest.mark.asyncio
async def test_projected_failures(tmp_path: Path) -> None:
    async def refuse(audience: str | None, expiration: int) -> str:
        raise RuntimeError('serviceaccounts "default" not found')

    volume = {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
    with pytest.raises(VolumeError, match="failed to fetch token") as err:
        await prepare_volumes(pod(volume), tmp_path, Api().fetch, refuse)
    assert err.value.reason == "FailedMount"
    missing = {"name": "p", "projected": {"sources": [{"secret": {"name": "gone"}}]}}
    with pytest.raises(VolumeError, match='^secret "gone" not found$'):
        await prepare(Api(), tmp_path, missing)


@pytest.mark.asyncio
async def test_downward_api_volume(tmp_path: Path) -> None:
    main = {
        "name": "main",
        "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}},
    }
    volume = {
        "name": "info",
        "downwardAPI": {
            "items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
                {
                    "path": "mem",
                    "resourceFieldRef": {
                        "containerName": "main",
                        "resource": "limits.memory",
                        "divisor": "1Mi",
                    },
                },
                {
                    "path": "cpu",
                    "resourceFieldRef": {
                        "containerName": "main",
                        "resource": "limits.cpu",
                        "divisor": "1m",
                    },
                },
                {
                    "path": "req",
                    "resourceFieldRef": {
                        "containerName": "main",
                        "resource": "requests.cpu",
                        "divisor": "1m",
                    },
                },
            ]
        },
    }
    the_pod = pod(volume, containers=[main])
    allocatable = {"cpu": "4", "memory": "8Gi"}
    target = (await prepare(Api(), tmp_path, the_pod=the_pod, node_allocatable=allocatable))["info"]
    assert files_under(target) == {
        "labels": b'app="web"',
        "name": b"web-1",
        "mem": b"64",
        "cpu": b"4000",
        "req": b"250",
    }
    assert mode_of(target / "name") == 0o400 and mode_of(target / "labels") == 0o644
    # Without node allocatable a missing limit cannot be answered.
    with pytest.raises(VolumeError, match="node allocatable unknown for limits.cpu"):
        await prepare(Api(), tmp_path, the_pod=the_pod)


@pytest.mark.asyncio
async def test_unsupported_volume_type(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="unsupported volume type nfs") as err:
        await prepare(Api(), tmp_path, {"name": "n", "nfs": {"server": "x", "path": "/"}})
    assert err.value.volume == "n"


def test_read_only_volumes() -> None:
    the_pod = pod(
        {"name": "s", "secret": {"secretName": "x"}},
        {"name": "c", "configMap": {"name": "x"}},
        {"name": "d", "downwardAPI": {"items": []}},
        {"name": "p", "projected": {"sources": []}},
        {"name": "ro", "persistentVolumeClaim": {"claimName": "x", "readOnly": True}},
        {"name": "rw", "persistentVolumeClaim": {"claimName": "x"}},
        {"name": "e", "emptyDir": {}},
    )
    assert read_only_volumes(the_pod) == {"s", "c", "d", "p", "ro"}


# --- container_mounts -----------------------------------------------------------------------


def test_mounts_sorted_parents_first(tmp_path: Path) -> None:
    data, cache, cfg = tmp_path / "data", tmp_path / "cache", tmp_path / "cfg"
    for path in (data, cache, cfg):
        path.mkdir()
    container = {
        "name": "main",
        "volumeMounts": [
            {"name": "cache", "mountPath": "/data/cache/x"},
            {"name": "cfg", "mountPath": "/etc/app", "readOnly": True},
            {"name": "data", "mountPath": "/data"},
        ],
    }
    mounts = container_mounts(container, {"data": data, "cache": cache, "cfg": cfg})
    assert mounts == [
        Mount(data, "/data", False),
        Mount(cfg, "/etc/app", True),
        Mount(cache, "/data/cache/x", False),
    ]


def test_mounts_forced_read_only(tmp_path: Path) -> None:
    container = {"name": "m", "volumeMounts": [{"name": "s", "mountPath": "/s", "readOnly": False}]}
    mounts = container_mounts(container, {"s": tmp_path}, read_only={"s"})
    assert mounts == [Mount(tmp_path, "/s", True)]


def test_sub_path(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    volume.mkdir(mode=0o750)
    os.chmod(volume, 0o750)
    (volume / "conf.ini").write_text("x")
    container = {
        "name": "m",
        "volumeMounts": [
            {"name": "v", "mountPath": "/etc/conf.ini", "subPath": "conf.ini"},
            {"name": "v", "mountPath": "/work", "subPath": "users/alice"},
        ],
    }
    mounts = container_mounts(container, {"v": volume})
    assert mounts == [  # /work is shallower than /etc/conf.ini
        Mount(volume / "users" / "alice", "/work", False),
        Mount(volume / "conf.ini", "/etc/conf.ini", False),
    ]
    assert (volume / "users" / "alice").is_dir()
    assert mode_of(volume / "users" / "alice") == 0o750  # the volume's own mode


def test_sub_path_expr(tmp_path: Path) -> None:
    container = {
        "name": "m",
        "volumeMounts": [{"name": "v", "mountPath": "/w", "subPathExpr": "$(POD)/logs"}],
    }
    mounts = container_mounts(container, {"v": tmp_path}, env={"POD": "web-1"})
    assert mounts[0].host_path == tmp_path / "web-1" / "logs"
    with pytest.raises(VolumeError, match="missing value for POD") as err:
        container_mounts(container, {"v": tmp_path}, env={"POD": ""})
    assert err.value.reason == "CreateContainerConfigError"


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ("../etc", "must not contain '..'"),
        ("a/../../etc", "must not contain '..'"),
        ("/etc", "must not be an absolute path"),
        ("link/passwd", "resolves outside the volume"),
    ],
)
def test_sub_path_escapes_refused(tmp_path: Path, sub: str, message: str) -> None:
    volume = tmp_path / "vol"
    volume.mkdir()
    (volume / "link").symlink_to("/etc")
    container = {"name": "m", "volumeMounts": [{"name": "v", "mountPath": "/x", "subPath": sub}]}
    with pytest.raises(VolumeError, match=message) as err:
        container_mounts(container, {"v": volume})
    assert err.value.reason == "CreateContainerConfigError"


def test_unknown_volume(tmp_path: Path) -> None:
    container = {"name": "main", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}
    with pytest.raises(VolumeError) as err:
        container_mounts(container, {})
    assert str(err.value) == 'cannot find volume "nope" to mount into container "main"'
    assert err.value.reason == "CreateContainerConfigError"


def test_no_mounts() -> None:
    assert container_mounts({"name": "m"}, {}) == []
