"""A container's environment, computed the way the kubelet does.

Order and precedence follow `kubelet.makeEnvironmentVariables`: the agent's base variables
(service links, PATH, HOME) come first and lose to `envFrom`, which loses to `env`; `env`
entries are resolved in order and each `value` may refer to the variables defined so far
with `$(NAME)`. Errors become `ContainerConfigError`, which the agent reports as the waiting
reason CreateContainerConfigError with the same messages the kubelet uses.

The downward-API helpers (`field_ref_value`, `resource_field_value`) are shared with the
downwardAPI and projected volumes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from jupyter_k8s.k8s.client import NotFound
from jupyter_k8s.k8s.quantity import Quantity, bytes_of, cpu_millis, parse_quantity

Obj = dict[str, Any]

# fetch(resource_plural, namespace, name) -> object dict; raises NotFound.
Fetch = Callable[[str, str, str], Awaitable[Obj]]


class ContainerConfigError(Exception):
    """The container cannot be configured (waiting reason CreateContainerConfigError)."""


# --- $(VAR) expansion ------------------------------------------------------------------------


def expand(text: str, env: Mapping[str, str]) -> str:
    """Expand `$(NAME)` references like k8s.io/kubernetes/third_party/forked/golang/expansion.

    `$$` is an escaped `$` (so `$$(X)` yields the literal `$(X)`), a reference to an
    undefined name or an unterminated `$(` stays as written, and a `$` followed by
    anything else is kept with that character.
    """
    return expand_with(text, lambda name: env.get(name, f"$({name})"))


def expand_with(text: str, mapping: Callable[[str], str]) -> str:
    """`expand` with a custom lookup (subPathExpr needs to notice missing names)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            consumed, advance = _read_reference(text, cursor + 1, mapping)
            out.append(consumed)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _read_reference(text: str, start: int, mapping: Callable[[str], str]) -> tuple[str, int]:
    """What to emit for the `$` just before `start`, and how many characters it consumed."""
    first = text[start]
    if first == "$":
        return "$", 1
    if first == "(":
        close = text.find(")", start + 1)
        if close == -1:
            return "$(", 1  # incomplete reference: keep it, scan on from the "("
        return mapping(text[start + 1 : close]), close - start + 1
    return "$" + first, 1


def expand_command(words: list[str], env: dict[str, str]) -> list[str]:
    """Expand `$(VAR)` in a container's command or args against its final environment."""
    return [expand(word, env) for word in words]


# --- downward API ----------------------------------------------------------------------------


def field_ref_value(pod: Obj, field_path: str) -> str:
    """The value of a `fieldRef.fieldPath` for this pod (kubelet's podFieldSelectorRuntimeValue).

    Raises ValueError for a path the kubelet does not support.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if field_path in simple:
        return str(simple[field_path] or "")
    if field_path == "status.podIPs":
        return _join_ips(status.get("podIPs"), status.get("podIP"))
    if field_path == "status.hostIPs":
        return _join_ips(status.get("hostIPs"), status.get("hostIP"))
    for key in ("labels", "annotations"):
        values: Mapping[str, str] = meta.get(key) or {}
        if field_path == f"metadata.{key}":
            return format_map(values)
        subscript = _subscript(field_path, f"metadata.{key}")
        if subscript is not None:
            return str(values.get(subscript, ""))
    raise ValueError(f"unsupported fieldPath: {field_path}")


def _join_ips(entries: list[Obj] | None, fallback: str | None) -> str:
    # The kubelet takes these from the sandbox; the agent fills status before starting.
    ips = [e.get("ip", "") for e in entries or [] if e.get("ip")]
    if not ips and fallback:
        ips = [fallback]
    return ",".join(ips)


def _subscript(path: str, prefix: str) -> str | None:
    """`metadata.labels['app']` -> "app" (either quote style), else None."""
    rest = path[len(prefix) :] if path.startswith(prefix) else ""
    quoted = len(rest) >= 4 and rest[1] in "'\"" and rest[1] == rest[-2]
    if quoted and rest[0] == "[" and rest[-1] == "]":
        return rest[2:-2]
    return None


def format_map(values: Mapping[str, str]) -> str:
    """`key="value"` lines sorted by key, as fieldpath.FormatMap writes labels/annotations."""
    return "\n".join(f"{k}={go_quote(str(values[k]))}" for k in sorted(values))


def go_quote(text: str) -> str:
    """A double-quoted string with Go's %q escapes (for the common printable cases)."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    parts: list[str] = []
    for char in text:
        if char in escapes:
            parts.append(escapes[char])
        elif char.isprintable():
            parts.append(char)
        elif ord(char) < 0x80:
            parts.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(f"\\U{ord(char):08x}")
    return '"' + "".join(parts) + '"'


# Limits the kubelet fills from node allocatable when the container sets none (or zero).
_DEFAULTED_LIMITS = ("cpu", "memory", "ephemeral-storage")


def resource_field_value(
    pod: Obj,
    ref: Obj,
    node_allocatable: Mapping[str, str],
    container: Obj | None = None,
) -> str:
    """The value of a `resourceFieldRef` (kubelet's ExtractContainerResourceValue).

    `ref.containerName` picks the container (regular or init); without it `container` is
    used. Results round up, e.g. limits.cpu 250m with divisor 1 gives "1".
    Raises ValueError for an unknown container or resource.
    """
    wanted = ref.get("containerName")
    target = _find_container(pod, wanted) if wanted else container
    if target is None:
        raise ValueError(f"container {wanted or ''} not found in pod")
    resource = str(ref.get("resource", ""))
    section, _, name = resource.partition(".")
    known = name in ("cpu", "memory", "ephemeral-storage") or name.startswith("hugepages-")
    if section not in ("limits", "requests") or not known:
        raise ValueError(f"unsupported container resource : {resource}")
    resources = target.get("resources") or {}
    value = (resources.get(section) or {}).get(name)
    if section == "limits" and name in _DEFAULTED_LIMITS and _is_zero(value):
        value = node_allocatable.get(name)
    # Unset (None) is zero, so ref["divisor"] exists where it is read.
    divisor: Quantity = "1" if _is_zero(ref.get("divisor")) else ref["divisor"]
    if name == "cpu":
        return str(_ceil_div(cpu_millis(value or 0), cpu_millis(divisor)))
    return str(_ceil_div(bytes_of(value or 0), bytes_of(divisor)))


def _find_container(pod: Obj, name: str) -> Obj | None:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("name") == name:
            return c
    return None


def _is_zero(value: object) -> bool:
    if value is None or value == "":
        return True
    if not isinstance(value, Quantity):
        return False  # not a quantity at all: the real conversion reports it
    try:
        return parse_quantity(value) == 0
    except ValueError:
        return False  # let the real conversion report the bad quantity


def _ceil_div(a: int, b: int) -> int:
    if b <= 0:
        raise ValueError("resourceFieldRef divisor must be positive")
    return -(-a // b)


# --- fetching Secrets and ConfigMaps ---------------------------------------------------------


class ObjectCache:
    """Secrets/ConfigMaps fetched once per call; a missing one is remembered as None."""

    def __init__(self, fetch: Fetch, namespace: str):
        self._fetch = fetch
        self._namespace = namespace
        self._seen: dict[tuple[str, str], Obj | None] = {}

    async def get(self, plural: str, name: str) -> Obj | None:
        key = (plural, name)
        if not name:  # a GET without a name would list the collection instead
            return None
        if key not in self._seen:
            try:
                self._seen[key] = await self._fetch(plural, self._namespace, name)
            except NotFound:
                self._seen[key] = None
        return self._seen[key]


def secret_data(secret: Obj) -> dict[str, bytes]:
    """A Secret's `data`, base64-decoded."""
    out: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError) as exc:  # binascii.Error is a ValueError
            name = (secret.get("metadata") or {}).get("name", "")
            raise ValueError(f"invalid base64 in key {key} of Secret {name}") from exc
    return out


def configmap_data(configmap: Obj) -> dict[str, bytes]:
    """A ConfigMap's `data` (UTF-8) and `binaryData` (base64) merged, as bytes."""
    out = {k: base64.b64decode(v or "") for k, v in (configmap.get("binaryData") or {}).items()}
    # The API server forbids a key in both; if one slipped through, `data` wins as in the kubelet.
    out.update({k: str(v).encode() for k, v in (configmap.get("data") or {}).items()})
    return out


def _text(raw: bytes) -> str:
    # Go's string([]byte) keeps any bytes; surrogateescape lets os.environ encode them back.
    return raw.decode("utf-8", "surrogateescape")


# Kubernetes names these "secret" and "configmap" in its NotFound messages.
_KINDS = {"secrets": ("secret", "Secret"), "configmaps": ("configmap", "ConfigMap")}


# --- the environment -------------------------------------------------------------------------


async def container_env(
    pod: Obj,
    container: Obj,
    fetch: Fetch,
    *,
    base: dict[str, str],
    node_allocatable: dict[str, str],
) -> dict[str, str]:
    """The final environment of `container` in `pod`; raises ContainerConfigError."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    cache = ObjectCache(fetch, namespace)
    env = dict(base)
    try:
        for source in container.get("envFrom") or []:
            env.update(await _env_from(source, cache))
        for var in container.get("env") or []:
            value = await _env_value(var, env, pod, container, cache, node_allocatable, namespace)
            if value is not None:
                env[var.get("name", "")] = value
    except ValueError as exc:  # bad fieldPath, resource, quantity or base64
        raise ContainerConfigError(str(exc)) from exc
    return env


async def _env_from(source: Obj, cache: ObjectCache) -> dict[str, str]:
    """The variables of one envFrom entry (values are taken as is, never expanded)."""
    prefix = source.get("prefix") or ""
    if source.get("configMapRef") is not None:
        ref, plural = source["configMapRef"], "configmaps"
    elif source.get("secretRef") is not None:
        ref, plural = source["secretRef"], "secrets"
    else:
        return {}
    obj = await _get_or_fail(cache, plural, ref.get("name", ""), bool(ref.get("optional")))
    if obj is None:
        return {}
    # envFrom uses only a ConfigMap's `data`, never its binaryData.
    if plural == "secrets":
        data = {k: _text(v) for k, v in secret_data(obj).items()}
    else:
        data = {k: str(v) for k, v in (obj.get("data") or {}).items()}
    # The kubelet skips (with an event) keys that are not valid variable names.
    return {prefix + k: v for k, v in data.items() if valid_env_name(prefix + k)}


def valid_env_name(name: str) -> bool:
    """Relaxed env var names (GA since 1.34): printable ASCII except '='."""
    return bool(name) and all(32 <= ord(c) <= 126 and c != "=" for c in name)


async def _get_or_fail(cache: ObjectCache, plural: str, name: str, optional: bool) -> Obj | None:
    obj = await cache.get(plural, name)
    if obj is None and not optional:
        raise ContainerConfigError(f'{_KINDS[plural][0]} "{name}" not found')
    return obj


async def _env_value(
    var: Obj,
    env: Mapping[str, str],
    pod: Obj,
    container: Obj,
    cache: ObjectCache,
    node_allocatable: Mapping[str, str],
    namespace: str,
) -> str | None:
    """One `env` entry's value; None means "leave it unset" (an optional key is missing)."""
    source = var.get("valueFrom")
    if not source:
        return expand(str(var.get("value") or ""), env)
    if source.get("fieldRef") is not None:
        return field_ref_value(pod, source["fieldRef"].get("fieldPath", ""))
    if source.get("resourceFieldRef") is not None:
        return resource_field_value(pod, source["resourceFieldRef"], node_allocatable, container)
    for field, plural in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
        if source.get(field) is not None:
            return await _key_ref(source[field], plural, cache, namespace)
    raise ContainerConfigError(f"unsupported valueFrom in environment variable {var.get('name')}")


async def _key_ref(ref: Obj, plural: str, cache: ObjectCache, namespace: str) -> str | None:
    optional = bool(ref.get("optional"))
    name, key = ref.get("name", ""), ref.get("key", "")
    obj = await _get_or_fail(cache, plural, name, optional)
    if obj is None:
        return None
    # Like envFrom, a ConfigMap key reference sees only `data`, not binaryData.
    if plural == "secrets":
        data = secret_data(obj)
    else:
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(
            f"couldn't find key {key} in {_KINDS[plural][1]} {namespace}/{name}"
        )
    return _text(data[key])
