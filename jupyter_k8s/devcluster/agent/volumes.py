"""A pod's volumes as host directories, and a container's mounts of them.

Each `spec.volumes` entry becomes a real path on the host: API-backed volumes (secret,
configMap, downwardAPI, projected) are written under `<pod_dir>/volumes/<name>`, emptyDir is
a directory there, and hostPath / persistentVolumeClaim resolve to the host directory itself.
How a process then sees a `Mount` (symlink, path rewrite, bind mount) is the runtime's
business.

Payload rules and error messages follow the kubelet's volume plugins (MakePayload,
downwardapi.CollectData, hostPath type checks), so `kubectl describe pod` reads the same.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jupyter_k8s.devcluster.agent.envvars import (
    Fetch,
    ObjectCache,
    configmap_data,
    expand_with,
    field_ref_value,
    resource_field_value,
    secret_data,
)
from jupyter_k8s.k8s.client import NotFound

Obj = dict[str, Any]

FAILED_MOUNT = "FailedMount"
CONFIG_ERROR = "CreateContainerConfigError"

# request_token(audience or None for the API server's default, expirationSeconds) -> JWT
TokenRequester = Callable[[str | None, int], Awaitable[str]]

# Kubernetes defaults for defaultMode (SecretVolumeSourceDefaultMode and friends).
DEFAULT_FILE_MODE = 0o644
DIR_MODE = 0o755
DEFAULT_TOKEN_EXPIRATION = 3600

# relative path inside the volume -> (content, file mode)
Payload = dict[str, tuple[bytes, int]]


@dataclass(frozen=True)
class Mount:
    host_path: Path
    container_path: str
    read_only: bool


class VolumeError(Exception):
    """A volume cannot be set up or mounted.

    `reason` is the pod event / waiting reason: "FailedMount" while preparing volumes,
    "CreateContainerConfigError" for a container's bad volumeMounts. `volume` names the
    volume when known, so the caller can say `MountVolume.SetUp failed for volume "x"`.
    """

    def __init__(self, message: str, reason: str = FAILED_MOUNT, volume: str | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.volume = volume


# --- preparing a pod's volumes ---------------------------------------------------------------


async def prepare_volumes(
    pod: Obj,
    pod_dir: Path,
    fetch: Fetch,
    request_token: TokenRequester,
    *,
    node_allocatable: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Materialise every volume of `pod`; returns volume name -> host path.

    Safe to call again for the same pod (after an agent restart, or to refresh Secret data
    and tokens): emptyDir contents survive, API-backed volumes are rewritten in place and
    files no longer in their payload are removed. `node_allocatable` feeds downward-API
    resourceFieldRefs for containers without limits.
    """
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    ctx = _Context(pod, ObjectCache(fetch, namespace), fetch, request_token, node_allocatable)
    paths: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = str(volume.get("name", ""))
        try:
            paths[name] = await _prepare_one(volume, _volume_dir(pod_dir, name), ctx)
        except VolumeError as exc:
            exc.volume = exc.volume or name
            raise
        except OSError as exc:  # disk trouble is a mount failure too, not an agent crash
            raise VolumeError(str(exc), FAILED_MOUNT, name) from exc
    return paths


@dataclass
class _Context:
    pod: Obj
    cache: ObjectCache
    fetch: Fetch
    request_token: TokenRequester
    node_allocatable: Mapping[str, str] | None


def _volume_dir(pod_dir: Path, name: str) -> Path:
    # Volume names are DNS labels; refuse anything that could leave the pod directory.
    if not name or "/" in name or name in (".", ".."):
        raise VolumeError(f"invalid volume name {name!r}", FAILED_MOUNT, name)
    return pod_dir / "volumes" / name


async def _prepare_one(volume: Obj, target: Path, ctx: _Context) -> Path:
    if volume.get("secret") is not None:
        return await _write(target, await _secret_volume(volume["secret"], ctx))
    if volume.get("configMap") is not None:
        return await _write(target, await _configmap_volume(volume["configMap"], ctx))
    if volume.get("downwardAPI") is not None:
        source = volume["downwardAPI"]
        payload = _downward_payload(source.get("items") or [], _default_mode(source), ctx)
        return await _write(target, payload)
    if volume.get("projected") is not None:
        return await _write(target, await _projected_volume(volume["projected"], ctx))
    if volume.get("emptyDir") is not None:
        # medium: Memory is just a directory here; nothing is sized or accounted.
        await asyncio.to_thread(_make_dirs, target)
        return target
    if volume.get("hostPath") is not None:
        return await asyncio.to_thread(_host_path, volume["hostPath"])
    if volume.get("persistentVolumeClaim") is not None:
        claim = str(volume["persistentVolumeClaim"].get("claimName", ""))
        return await _claim_path(claim, ctx)
    if volume.get("ephemeral") is not None:
        # A generic ephemeral volume is a PVC the controller names <pod>-<volume>.
        pod_name = (ctx.pod.get("metadata") or {}).get("name", "")
        return await _claim_path(f"{pod_name}-{volume.get('name', '')}", ctx)
    kinds = sorted(k for k in volume if k != "name")
    raise VolumeError(f"unsupported volume type {', '.join(kinds) or '(none)'}")


def _default_mode(source: Obj) -> int:
    mode = source.get("defaultMode")
    return DEFAULT_FILE_MODE if mode is None else int(mode)


async def _write(target: Path, payload: Payload) -> Path:
    await asyncio.to_thread(write_payload, target, payload)
    return target


# --- Secret, ConfigMap, downward API and projected payloads ----------------------------------


async def _secret_volume(source: Obj, ctx: _Context) -> Payload:
    name = str(source.get("secretName", ""))
    return await _object_payload("secrets", name, source, _default_mode(source), ctx)


async def _configmap_volume(source: Obj, ctx: _Context) -> Payload:
    name = str(source.get("name", ""))
    return await _object_payload("configmaps", name, source, _default_mode(source), ctx)


async def _object_payload(
    plural: str, name: str, source: Obj, default_mode: int, ctx: _Context
) -> Payload:
    """Files for a Secret or ConfigMap (whole, or the listed `items`)."""
    optional = bool(source.get("optional"))
    obj = await ctx.cache.get(plural, name)
    if obj is None:
        if optional:
            return {}  # an optional, missing object gives an empty volume
        raise VolumeError(f'{"secret" if plural == "secrets" else "configmap"} "{name}" not found')
    try:
        data = secret_data(obj) if plural == "secrets" else configmap_data(obj)
    except ValueError as exc:
        raise VolumeError(str(exc)) from exc
    return key_payload(data, source.get("items"), default_mode, optional, plural)


def key_payload(
    data: Mapping[str, bytes],
    items: list[Obj] | None,
    default_mode: int,
    optional: bool,
    plural: str = "secrets",
) -> Payload:
    """Kubelet's MakePayload: every key as a file, or only `items` (key -> path, mode)."""
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            if optional:
                continue
            if plural == "secrets":
                raise VolumeError(f"references non-existent secret key: {key}")
            raise VolumeError(f"configmap references non-existent config key: {key}")
        mode = item.get("mode")
        payload[str(item.get("path", key))] = (
            data[key],
            default_mode if mode is None else int(mode),
        )
    return payload


def _downward_payload(items: list[Obj], default_mode: int, ctx: _Context) -> Payload:
    """Kubelet's downwardapi.CollectData: one file per item from a fieldRef/resourceFieldRef."""
    payload: Payload = {}
    for item in items:
        mode = item.get("mode")
        payload[str(item.get("path", ""))] = (
            _downward_value(item, ctx).encode(),
            default_mode if mode is None else int(mode),
        )
    return payload


def _downward_value(item: Obj, ctx: _Context) -> str:
    try:
        if item.get("fieldRef") is not None:
            return field_ref_value(ctx.pod, str(item["fieldRef"].get("fieldPath", "")))
        if item.get("resourceFieldRef") is not None:
            ref = item["resourceFieldRef"]
            if ctx.node_allocatable is None and not _has_limit(ctx.pod, ref):
                raise ValueError(f"node allocatable unknown for {ref.get('resource')}")
            return resource_field_value(ctx.pod, ref, ctx.node_allocatable or {})
    except ValueError as exc:
        raise VolumeError(str(exc)) from exc
    return ""


def _has_limit(pod: Obj, ref: Obj) -> bool:
    """Whether a resourceFieldRef can be answered without node allocatable."""
    resource = str(ref.get("resource", ""))
    if not resource.startswith("limits."):
        return True
    spec = pod.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if container.get("name") == ref.get("containerName"):
            limits = (container.get("resources") or {}).get("limits") or {}
            return bool(limits.get(resource.removeprefix("limits.")))
    return True  # unknown container: let resource_field_value report it


async def _projected_volume(source: Obj, ctx: _Context) -> Payload:
    """All sources of a projected volume merged into one payload."""
    default_mode = _default_mode(source)
    payload: Payload = {}
    for part in source.get("sources") or []:
        payload.update(await _projection(part, default_mode, ctx))
    return payload


async def _projection(part: Obj, default_mode: int, ctx: _Context) -> Payload:
    if part.get("secret") is not None:
        src = part["secret"]
        return await _object_payload("secrets", str(src.get("name", "")), src, default_mode, ctx)
    if part.get("configMap") is not None:
        src = part["configMap"]
        return await _object_payload("configmaps", str(src.get("name", "")), src, default_mode, ctx)
    if part.get("downwardAPI") is not None:
        return _downward_payload(part["downwardAPI"].get("items") or [], default_mode, ctx)
    if part.get("serviceAccountToken") is not None:
        return await _token_payload(part["serviceAccountToken"], default_mode, ctx)
    raise VolumeError(f"unsupported projected volume source {', '.join(sorted(part)) or '(none)'}")


async def _token_payload(source: Obj, default_mode: int, ctx: _Context) -> Payload:
    """A bound service account token for the pod; its file takes the volume's defaultMode."""
    audience = source.get("audience") or None  # None: the API server's own audiences
    expiration = int(source.get("expirationSeconds") or DEFAULT_TOKEN_EXPIRATION)
    try:
        token = await ctx.request_token(audience, expiration)
    except Exception as exc:  # whatever the requester hits, the pod sees a FailedMount
        raise VolumeError(f"failed to fetch token: {exc}") from exc
    return {str(source.get("path", "token")): (token.encode(), default_mode)}


# --- hostPath and persistentVolumeClaim ------------------------------------------------------


_TYPE_CHECKS: dict[str, tuple[Callable[[int], bool], str]] = {
    "Directory": (stat.S_ISDIR, "a directory"),
    "File": (stat.S_ISREG, "a file"),
    "Socket": (stat.S_ISSOCK, "a socket file"),
    "CharDevice": (stat.S_ISCHR, "a character device"),
    "BlockDevice": (stat.S_ISBLK, "a block device"),
}


def _host_path(source: Obj) -> Path:
    """The hostPath itself, after the kubelet's `type` checks (creating for *OrCreate)."""
    raw = str(source.get("path", ""))
    if not os.path.isabs(raw):
        raise VolumeError(f"hostPath {raw!r} must be an absolute path")
    path = Path(raw)
    kind = source.get("type") or ""
    if kind == "":
        return path  # no check requested
    if kind == "DirectoryOrCreate":
        if not path.exists():
            _make_dirs(path)
        kind = "Directory"
    elif kind == "FileOrCreate":
        if not path.exists():
            _create_empty_file(path)
        kind = "File"
    if kind not in _TYPE_CHECKS:
        raise VolumeError(f"{kind} is an invalid volume type")
    check, what = _TYPE_CHECKS[kind]
    try:
        ok = check(path.stat().st_mode)
    except OSError:
        ok = False
    if not ok:
        raise VolumeError(f"hostPath type check failed: {path} is not {what}")
    return path


def _create_empty_file(path: Path) -> None:
    # Like the kubelet, FileOrCreate does not create missing parent directories.
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, DEFAULT_FILE_MODE)
    except OSError as exc:
        raise VolumeError(f"open {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    os.chmod(path, DEFAULT_FILE_MODE)  # umask-independent


async def _claim_path(claim_name: str, ctx: _Context) -> Path:
    """The host directory behind a PVC: its bound PV's hostPath or local path."""
    namespace = (ctx.pod.get("metadata") or {}).get("namespace") or "default"
    try:
        claim = await ctx.fetch("persistentvolumeclaims", namespace, claim_name)
    except NotFound as exc:
        raise VolumeError(f'persistentvolumeclaim "{claim_name}" not found') from exc
    pv_name = (claim.get("spec") or {}).get("volumeName")
    if (claim.get("status") or {}).get("phase") != "Bound" or not pv_name:
        raise VolumeError(f'persistentvolumeclaim "{claim_name}" is not bound')
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        raise VolumeError(f'persistentvolumeclaim "{claim_name}" is being deleted')
    try:
        pv = await ctx.fetch("persistentvolumes", "", pv_name)
    except NotFound as exc:
        raise VolumeError(f'persistentvolume "{pv_name}" not found') from exc
    _check_claim_ref(pv, claim)
    spec = pv.get("spec") or {}
    raw = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
    if not raw or not os.path.isabs(raw):
        raise VolumeError(f'persistentvolume "{pv_name}" has no hostPath or local path')
    path = Path(raw)
    await asyncio.to_thread(_make_dirs, path)
    return path


def _check_claim_ref(pv: Obj, claim: Obj) -> None:
    # The kubelet refuses a PV whose claimRef points at another claim (e.g. a recreated one).
    ref_uid = ((pv.get("spec") or {}).get("claimRef") or {}).get("uid")
    claim_uid = (claim.get("metadata") or {}).get("uid")
    if ref_uid and claim_uid and ref_uid != claim_uid:
        name = (pv.get("metadata") or {}).get("name", "")
        raise VolumeError(
            f"found PV object {name} but its pv.Spec.ClaimRef.UID {ref_uid} "
            f"does not point to claim.UID {claim_uid}"
        )


def read_only_volumes(pod: Obj) -> set[str]:
    """Volumes every mount of which is read-only in Kubernetes, whatever `readOnly` says.

    API data volumes (secret, configMap, downwardAPI, projected) always are, and so is a
    persistentVolumeClaim volume with `readOnly: true`. Pass the result to container_mounts.
    """
    api_data = ("secret", "configMap", "downwardAPI", "projected")
    names: set[str] = set()
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = volume.get("persistentVolumeClaim") or {}
        if any(volume.get(k) is not None for k in api_data) or claim.get("readOnly"):
            names.add(str(volume.get("name", "")))
    return names


# --- writing files ---------------------------------------------------------------------------


def write_payload(target: Path, payload: Payload) -> None:
    """Make `target` hold exactly `payload`: each file written atomically with its mode.

    Files are written to a temporary name and renamed, so a reader sees the old or the new
    content, never half; files and directories not in the payload are removed afterwards.
    """
    files = {_payload_path(rel): value for rel, value in payload.items()}
    _make_dirs(target)
    for rel, (data, mode) in files.items():
        dest = target.joinpath(*rel.parts)
        _make_dirs(dest.parent, within=target)
        atomic_write(dest, data, mode)
    _prune(target, set(files))


def _payload_path(rel: str) -> PurePosixPath:
    """Validate a payload path as the kubelet's AtomicWriter does (relative, no '..')."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or ".." in path.parts or str(path) == ".":
        raise VolumeError(f"invalid path {rel!r} in volume payload")
    return path


def atomic_write(dest: Path, data: bytes, mode: int) -> None:
    """Write `data` to `dest` via a temporary file and rename; `mode` is exact (no umask)."""
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)  # the payload turned a directory into a file
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_dirs(path: Path, within: Path | None = None) -> None:
    """Create `path` and missing parents with mode 0755 exactly (chmod, not umask).

    Directories that already exist are left alone, except that inside a payload volume
    (`within`) a file standing where a directory must go is removed.
    """
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        if within is not None and current != within and (current.exists() or current.is_symlink()):
            current.unlink()  # a stale payload file where a directory is needed now
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # someone else made it meanwhile; keep their mode
        os.chmod(directory, DIR_MODE)


def _prune(target: Path, keep: set[PurePosixPath]) -> None:
    """Remove what a previous payload left behind (files, then emptied directories)."""
    keep_dirs = {parent for rel in keep for parent in rel.parents}
    for root, dirs, files in os.walk(target, topdown=False):
        base = Path(root)
        rel_root = PurePosixPath(base.relative_to(target).as_posix())
        for name in files:
            if rel_root / name not in keep:
                (base / name).unlink(missing_ok=True)
        for name in dirs:
            path = base / name
            if rel_root / name in keep_dirs:
                continue
            if path.is_symlink():
                path.unlink()
            elif not any(path.iterdir()):
                path.rmdir()


# --- a container's mounts --------------------------------------------------------------------


def container_mounts(
    container: Obj,
    volume_paths: dict[str, Path],
    *,
    env: Mapping[str, str] | None = None,
    read_only: Collection[str] = (),
) -> list[Mount]:
    """The container's volumeMounts as host paths, parents before children.

    `env` (the container's environment) expands `subPathExpr`; volumes named in
    `read_only` (see `read_only_volumes`) are mounted read-only whatever the mount says.
    Errors are VolumeError with reason CreateContainerConfigError, as in the kubelet.
    """
    mounts: list[Mount] = []
    for spec in container.get("volumeMounts") or []:
        name = str(spec.get("name", ""))
        if name not in volume_paths:
            raise VolumeError(
                f'cannot find volume "{name}" to mount into container "{container.get("name")}"',
                CONFIG_ERROR,
                name,
            )
        host = volume_paths[name]
        sub = _sub_path(spec, env or {})
        if sub:
            host = _join_sub_path(host, sub, name)
        ro = bool(spec.get("readOnly")) or name in read_only
        mounts.append(Mount(host, str(spec.get("mountPath", "")), ro))
    # A stable sort by depth: /data is set up before /data/cache, whatever the spec order.
    mounts.sort(key=lambda m: len(PurePosixPath(m.container_path).parts))
    return mounts


def _sub_path(spec: Obj, env: Mapping[str, str]) -> str:
    """subPath, or subPathExpr expanded where every referenced variable must be non-empty."""
    expr = spec.get("subPathExpr")
    if not expr:
        return str(spec.get("subPath") or "")
    missing: set[str] = set()

    def lookup(key: str) -> str:
        if not env.get(key):
            missing.add(key)
        return env.get(key, "")

    expanded = expand_with(str(expr), lookup)
    if missing:
        raise VolumeError(
            f"missing value for {', '.join(sorted(missing))}", CONFIG_ERROR, spec.get("name")
        )
    return expanded


def _join_sub_path(volume: Path, sub: str, name: str) -> Path:
    """volume/sub, refusing escapes (absolute, '..', symlinks out); creates a missing dir."""
    if os.path.isabs(sub):
        raise VolumeError(f"error SubPath `{sub}` must not be an absolute path", CONFIG_ERROR, name)
    if ".." in PurePosixPath(sub).parts:
        raise VolumeError(
            f"unable to provision SubPath `{sub}`: must not contain '..'", CONFIG_ERROR, name
        )
    host = volume.joinpath(sub)
    root = volume.resolve()
    if not host.resolve().is_relative_to(root):
        raise VolumeError(
            f"subpath {sub!r} of volume {name!r} resolves outside the volume", CONFIG_ERROR, name
        )
    if not host.exists():
        # The kubelet creates a missing subPath as a directory with the volume's mode.
        _make_dirs(host)
        os.chmod(host, stat.S_IMODE(volume.stat().st_mode))
    return host
