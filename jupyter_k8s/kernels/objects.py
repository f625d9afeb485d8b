"""Pure builders of a remote kernel's Kubernetes objects: its pod and its connection Secret.

Dicts out, no I/O, tested against golden dicts. Everything a restarted Jupyter server needs to
find a kernel again is in the pod's labels and annotations (kernel id, kernelspec name,
profile, owner); the HMAC key (and the CurveZMQ keys, when used) only ever travel in the
Secret, which the pod mounts as files of mode 0400 and which the Secret's owner reference
ties to the pod, so the garbage collector removes it with the pod.

The pod is created with a scheduling gate: it cannot be scheduled before its Secret exists
(the Secret is created right after the pod, owned by it, then the gate is removed). A pod
left gated by a server that died in between is found and deleted by the orphan cleanup.

Queued kernels (a profile naming a Kueue LocalQueue, docs/queues.md): the pod carries the
queue's labels from its creation, so Kueue's pod webhook adds its own gate
(`kueue.x-k8s.io/admission`) next to ours and Kueue lifts it on admission. Each side removes
only its own gate (a strategic merge patch keyed by the gate's name), in either order: the
pod is scheduled once both are gone.

Connection: the server picks the five ports up front (every pod has its own IP, so one
fixed set serves all kernels) and writes them with the key into the Secret's
`connection.json`. The pod IP is only known once the pod runs: the launcher (pod/launcher.py,
shipped in the same Secret) reads it from the downward API (`POD_IP`), writes the final
connection file into a memory-backed emptyDir and execs the kernel; the server reads the
same IP from the pod's status and connects straight to it.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..k8s.objects import MANAGED_BY, container, deep_merge, pod_spec
from ..names import owner_label
from ..profiles import Profile
from ..queues.names import PRIORITY_LABEL, QUEUE_LABEL

# -- labels and annotations (the cluster is the source of truth) ---------------------------------

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_OWNER = "jupyter-k8s.io/owner"
LABEL_KERNEL_ID = "jupyter-k8s.io/kernel-id"
COMPONENT = "kernel"

ANN_KERNEL_NAME = "jupyter-k8s.io/kernelspec"  # the kernelspec a restarted server starts again
ANN_PROFILE = "jupyter-k8s.io/profile"
ANN_USERNAME = "jupyter-k8s.io/username"  # the exact name; the owner label may be hashed
ANN_CLIENT = "jupyter-k8s.io/client"  # "server" (a Jupyter server) or "standalone" (papermill…)
ANN_PORTS = "jupyter-k8s.io/ports"  # the five ports, for people reading the pod
#: The id of the Jupyter server (or standalone client process) that holds the kernel: only
#: it renews the heartbeat, adopts, restarts or deletes the pod (see identity.py).
ANN_SERVER_ID = "jupyter-k8s.io/server-id"
#: When the pod's holder (a Jupyter server or a standalone client such as papermill) last
#: said it is alive: renewed while it runs, so a pod whose holder was killed or stopped
#: (an orphan) can be told from one whose holder still works.
ANN_HEARTBEAT = "jupyter-k8s.io/client-heartbeat"

#: Select every kernel pod (add the owner label to select one user's).
KERNEL_SELECTOR = f"{LABEL_MANAGED_BY}=jupyter-k8s,{LABEL_COMPONENT}={COMPONENT}"

#: The gate that holds the pod back until its Secret exists.
SCHEDULING_GATE = "jupyter-k8s.io/connection-secret"
#: Kueue's gate, added by its pod webhook to a pod with a queue label and lifted on admission.
KUEUE_GATE = "kueue.x-k8s.io/admission"

# -- paths and names inside the pod -------------------------------------------------------------

CONTAINER = "kernel"
SECRET_DIR = "/var/run/jupyter-k8s/kernel"  # the Secret: connection.json, launcher.py (0400)
RUN_DIR = "/var/run/jupyter-k8s/run"  # memory-backed emptyDir: the final connection file
CONNECTION_KEY = "connection.json"
LAUNCHER_KEY = "launcher.py"
SECRET_MODE = 0o400

#: shell, iopub, stdin, control, hb: the same for every pod (each has its own IP).
DEFAULT_PORTS: dict[str, int] = {
    "shell_port": 52700,
    "iopub_port": 52701,
    "stdin_port": 52702,
    "control_port": 52703,
    "hb_port": 52704,
}
PORT_NAMES = tuple(DEFAULT_PORTS)

#: What ipykernel needs to start; {connection_file} is replaced by the launcher.
IPYKERNEL_ARGV = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]

#: The kernel gets a short grace period: it was asked to shut down over its control channel
#: first, and a restart must not wait long for the old pod.
GRACE_SECONDS = 5

#: Environment variables of the server's own environment that a kernel may see. Everything
#: else stays on the server: its environment can hold tokens and credentials.
PASSED_ENV = ("JPY_SESSION_NAME",)


@dataclass(frozen=True)
class KernelPodBuild:
    """Everything needed to build one kernel pod and its Secret."""

    name: str  # of the pod and of its Secret
    namespace: str
    kernel_id: str
    kernel_name: str  # the kernelspec's name, started again on reattach
    owner: str
    profile: Profile
    image: str
    argv: tuple[str, ...] = tuple(IPYKERNEL_ARGV)
    env: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    client: str = "server"
    #: The holder's id (ANN_SERVER_ID); None: not written (older builds, golden tests).
    server_id: str | None = None
    run_as_user: int = 1000
    gated: bool = True
    #: The server's files in the pod (shared staging): a pod volume source mounted at
    #: `shared_mount_path`, and the kernel's working directory, the notebook's folder in it.
    shared_volume: Mapping[str, Any] | None = None
    shared_mount_path: str | None = None
    working_dir: str | None = None
    #: The Kueue LocalQueue and WorkloadPriorityClass the pod joins (labels at creation).
    queue: str | None = None
    priority_class: str | None = None

    def __post_init__(self) -> None:
        if set(self.ports) != set(PORT_NAMES):
            raise ValueError(f"ports must name exactly {', '.join(PORT_NAMES)}")
        if len(set(self.ports.values())) != len(PORT_NAMES):
            raise ValueError("the five kernel ports must differ")
        if not self.argv:
            raise ValueError("the kernel command (argv) is empty")
        if self.client not in ("server", "standalone"):
            raise ValueError(f"unknown client kind {self.client!r}")
        if self.server_id is not None and not is_server_id(self.server_id):
            raise ValueError(f"invalid server id {self.server_id!r}")
        if bool(self.shared_volume) != bool(self.shared_mount_path):
            raise ValueError("shared_volume and shared_mount_path go together")
        if self.working_dir is not None:
            root = (self.shared_mount_path or "").rstrip("/") + "/"
            if not self.shared_mount_path or not (self.working_dir + "/").startswith(root):
                raise ValueError("working_dir must lie in the shared volume")
        if self.priority_class is not None and self.queue is None:
            raise ValueError("a priority_class needs a queue")


def path_in_root(path: str | None, root_dir: str | None) -> PurePosixPath | None:
    """`path` relative to the server's root when it lies under it (no `..`), else None."""
    if not path or not root_dir:
        return None
    try:
        rel = PurePosixPath(path).relative_to(PurePosixPath(root_dir))
    except ValueError:
        return None
    return None if ".." in rel.parts else rel


def working_dir_for(cwd: str | None, root_dir: str | None, mount_path: str) -> str:
    """The kernel's working directory in the pod: the notebook's folder (jupyter_server's
    `cwd`, under the server's root) at the same place under the shared volume's mount path;
    the mount path itself when `cwd` is not under the root (nothing outside it is shared).
    """
    rel = path_in_root(cwd, root_dir)
    return mount_path if rel is None else str(PurePosixPath(mount_path) / rel)


def _json_pointer(key: str) -> str:
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def heartbeat_patch(now_iso: str, server_id: str) -> list[dict[str, Any]]:
    """The JSON patch a holder renews on its kernel pods: it applies only while the pod still
    names `server_id` as its holder (the "test" operation), so a holder never refreshes a pod
    that another server took over meanwhile."""
    return [
        {"op": "test", "path": _json_pointer(ANN_SERVER_ID), "value": server_id},
        {"op": "add", "path": _json_pointer(ANN_HEARTBEAT), "value": now_iso},
    ]


def claim_patch(server_id: str, now_iso: str, resource_version: str) -> dict[str, Any]:
    """The merge patch that makes `server_id` the pod's holder, with a fresh heartbeat.

    Conditional on `resource_version`: when anything changed the pod since it was read (its
    holder's heartbeat, another server's claim), the API server answers 409 and nothing is
    changed, so of two servers claiming one orphan exactly one wins.
    """
    return {
        "metadata": {
            "resourceVersion": resource_version,
            "annotations": {ANN_SERVER_ID: server_id, ANN_HEARTBEAT: now_iso},
        }
    }


# -- reading back: everything read from the cluster is untrusted ---------------------------------

#: The longest annotation value read back; longer ones are ignored (treated as absent).
MAX_ANNOTATION = 1024
_SERVER_ID = re.compile(r"[a-z0-9]{16,64}")
_KERNEL_ID = re.compile(r"[-a-zA-Z0-9_]{1,64}")  # as jupyter_server's routes accept
_KERNEL_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")  # as jupyter_client names kernelspecs


def is_server_id(value: Any) -> bool:
    return isinstance(value, str) and _SERVER_ID.fullmatch(value) is not None


def _meta_map(obj: Mapping[str, Any] | None, which: str) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata")
    found = meta.get(which) if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def annotation(
    obj: Mapping[str, Any] | None, key: str, max_len: int = MAX_ANNOTATION
) -> str | None:
    """An annotation's value when it is a string of at most `max_len` characters, else None."""
    value = _meta_map(obj, "annotations").get(key)
    return value if isinstance(value, str) and len(value) <= max_len else None


def label(obj: Mapping[str, Any] | None, key: str) -> str | None:
    value = _meta_map(obj, "labels").get(key)
    return value if isinstance(value, str) and len(value) <= 63 else None


def is_mine(obj: Mapping[str, Any] | None, owner: str) -> bool:
    """Whether a kernel object read from the cluster (pod or Secret) belongs to `owner`.

    Both must hold: the owner label (what the cache selects by; it may be hashed, so two
    names could in principle share it) and the exact user name in the username annotation.
    Every list, watch, adoption, reattach, cleanup and Secret read goes through this.
    """
    if not owner:
        return False
    return label(obj, LABEL_OWNER) == owner_label(owner) and annotation(obj, ANN_USERNAME) == owner


def is_kernel_pod(obj: Mapping[str, Any] | None) -> bool:
    """Labelled as a jupyter-k8s kernel (what KERNEL_SELECTOR selects)."""
    return (
        label(obj, LABEL_MANAGED_BY) == MANAGED_BY[LABEL_MANAGED_BY]
        and label(obj, LABEL_COMPONENT) == COMPONENT
    )


def kernel_id_of(pod: Mapping[str, Any] | None) -> str | None:
    value = label(pod, LABEL_KERNEL_ID)
    return value if value and _KERNEL_ID.fullmatch(value) else None


def kernel_name_of(pod: Mapping[str, Any] | None) -> str | None:
    value = annotation(pod, ANN_KERNEL_NAME)
    return value if value and _KERNEL_NAME.fullmatch(value) else None


def client_of(pod: Mapping[str, Any] | None) -> str | None:
    value = annotation(pod, ANN_CLIENT)
    return value if value in ("server", "standalone") else None


def server_id_of(pod: Mapping[str, Any] | None) -> str | None:
    value = annotation(pod, ANN_SERVER_ID)
    return value if is_server_id(value) else None


def labels(build: KernelPodBuild) -> dict[str, str]:
    return {
        **MANAGED_BY,
        LABEL_COMPONENT: COMPONENT,
        LABEL_OWNER: owner_label(build.owner),
        LABEL_KERNEL_ID: build.kernel_id,
    }


def queue_labels(build: KernelPodBuild) -> dict[str, str]:
    """The labels that put the pod in its Kueue queue (none for a kernel not queued)."""
    out = {}
    if build.queue:
        out[QUEUE_LABEL] = build.queue
        if build.priority_class:
            out[PRIORITY_LABEL] = build.priority_class
    return out


def make_annotations(build: KernelPodBuild) -> dict[str, str]:
    out = {
        ANN_KERNEL_NAME: build.kernel_name,
        ANN_PROFILE: build.profile.name,
        ANN_USERNAME: build.owner,
        ANN_CLIENT: build.client,
        ANN_PORTS: json.dumps(dict(build.ports), sort_keys=True, separators=(",", ":")),
    }
    if build.server_id is not None:
        out[ANN_SERVER_ID] = build.server_id
    return out


def pod_queue(pod: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The LocalQueue and WorkloadPriorityClass a pod's labels name (untrusted: names only)."""
    return label(pod, QUEUE_LABEL) or None, label(pod, PRIORITY_LABEL) or None


def gates(pod: Mapping[str, Any] | None) -> set[str]:
    """The names of the pod's scheduling gates."""
    found = ((pod or {}).get("spec") or {}).get("schedulingGates")
    return {
        g["name"]
        for g in (found if isinstance(found, list) else [])
        if isinstance(g, dict) and isinstance(g.get("name"), str)
    }


def kueue_gated(pod: Mapping[str, Any] | None) -> bool:
    """Whether the pod waits for Kueue's admission (its gate is still there)."""
    return KUEUE_GATE in gates(pod)


def owner_selector(owner: str) -> str:
    """The label selector of one user's kernel pods."""
    return f"{KERNEL_SELECTOR},{LABEL_OWNER}={owner_label(owner)}"


# -- the connection Secret ----------------------------------------------------------------------


def make_connection_info(
    ports: Mapping[str, int],
    key: bytes | str,
    *,
    signature_scheme: str = "hmac-sha256",
    kernel_name: str = "",
    curve_publickey: bytes | str | None = None,
    curve_secretkey: bytes | str | None = None,
    ip: str = "0.0.0.0",
) -> dict[str, Any]:
    """The connection file's content. `ip` is a placeholder: the launcher puts the pod IP."""
    info: dict[str, Any] = {
        "transport": "tcp",
        "ip": ip,
        **{name: int(ports[name]) for name in PORT_NAMES},
        "key": key.decode() if isinstance(key, bytes) else key,
        "signature_scheme": signature_scheme,
        "kernel_name": kernel_name,
    }
    if curve_publickey is not None and curve_secretkey is not None:
        info["curve_publickey"] = _text(curve_publickey)
        info["curve_secretkey"] = _text(curve_secretkey)
    return info


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def make_secret(
    build: KernelPodBuild, connection_info: Mapping[str, Any], launcher_source: str
) -> dict[str, Any]:
    """The Secret with connection.json (the HMAC key) and launcher.py.

    Created after the pod and owned by it (`set_owner`), so it goes when the pod goes.
    """
    files = {
        CONNECTION_KEY: json.dumps(dict(connection_info), indent=1, sort_keys=True),
        LAUNCHER_KEY: launcher_source,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": build.name,
            "namespace": build.namespace,
            "labels": labels(build),
            # checked with the label when the Secret is read back (is_mine)
            "annotations": {ANN_USERNAME: build.owner},
        },
        "type": "Opaque",
        "immutable": True,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()},
    }


#: The largest connection.json read back from a Secret.
MAX_CONNECTION_BYTES = 16 * 1024
_SIGNATURE_SCHEME = re.compile(r"hmac-[a-z0-9]{1,16}")
_Z85_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")


def read_connection_secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    """connection.json out of a Secret as the API returns it (for reattach), checked field by
    field: only what a kernel connection needs comes back, each of its expected type and
    range (ValueError otherwise). The caller checks whose Secret it is (is_mine)."""
    data = secret.get("data")
    raw = data.get(CONNECTION_KEY) if isinstance(data, Mapping) else None
    if not raw or not isinstance(raw, str):
        raise ValueError("the Secret has no connection.json")
    if len(raw) > MAX_CONNECTION_BYTES * 4 // 3 + 4:
        raise ValueError("connection.json in the Secret is too large")
    try:
        info = json.loads(base64.b64decode(raw, validate=True))
    except ValueError:
        raise ValueError("connection.json in the Secret is not JSON") from None
    if not isinstance(info, dict):
        raise ValueError("connection.json in the Secret is not a kernel connection file")
    return _checked_connection(info)


def _checked_connection(info: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"transport": "tcp"}
    if info.get("transport", "tcp") != "tcp":
        raise ValueError("connection.json: transport must be tcp")
    for name in PORT_NAMES:
        port = info.get(name)
        if type(port) is not int or not 0 < port < 65536:
            raise ValueError(f"connection.json: {name} must be a port number")
        out[name] = port
    if len({out[name] for name in PORT_NAMES}) != len(PORT_NAMES):
        raise ValueError("connection.json: the five ports must differ")
    key = info.get("key")
    if not isinstance(key, str) or not 0 < len(key) <= 1024:
        raise ValueError("connection.json: key must be a string of at most 1024 characters")
    out["key"] = key
    scheme = info.get("signature_scheme", "hmac-sha256")
    if not isinstance(scheme, str) or not _SIGNATURE_SCHEME.fullmatch(scheme):
        raise ValueError("connection.json: unknown signature_scheme")
    out["signature_scheme"] = scheme
    name = info.get("kernel_name", "")
    out["kernel_name"] = name if isinstance(name, str) and len(name) <= 128 else ""
    pub, sec = info.get("curve_publickey"), info.get("curve_secretkey")
    if pub is not None or sec is not None:
        if not all(isinstance(k, str) and _Z85_KEY.fullmatch(k) for k in (pub, sec)):
            raise ValueError("connection.json: curve keys must be two Z85 keys of 40 characters")
        out["curve_publickey"], out["curve_secretkey"] = pub, sec
    return out


# -- the pod ------------------------------------------------------------------------------------


def escape_expansion(arg: str) -> str:
    """`arg` safe from the kubelet's $(VAR) expansion of command and env values."""
    return arg.replace("$(", "$$(")


def kernel_command(build: KernelPodBuild) -> list[str]:
    """python launcher.py -- <the kernelspec's argv>."""
    return [
        "python3",
        f"{SECRET_DIR}/{LAUNCHER_KEY}",
        "--",
        *(escape_expansion(a) for a in build.argv),
    ]


def _env(build: KernelPodBuild) -> list[dict[str, Any]]:
    # Later wins: the profile's settings, then the kernelspec's and the session's.
    merged = {"PYTHONUNBUFFERED": "1", **build.profile.env, **build.env}
    env: list[dict[str, Any]] = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "JUPYTER_K8S_KERNEL_ID", "value": build.kernel_id},
    ]
    reserved = {"POD_IP", "JUPYTER_K8S_KERNEL_ID"}
    env += [
        {"name": k, "value": escape_expansion(v)} for k, v in merged.items() if k not in reserved
    ]
    return env


def make_pod(build: KernelPodBuild) -> dict[str, Any]:
    """The kernel's pod: restricted, no token, the profile's resources and placement.

    restartPolicy Always: a kernel that exits (a restart asked over its control channel, or a
    crash) is started again by the kubelet in the same pod, which keeps its IP, its GPU and
    its Secret; the server follows it through the container's restartCount.
    """
    profile = build.profile
    ports = [
        {"name": name.removesuffix("_port"), "containerPort": port, "protocol": "TCP"}
        for name, port in build.ports.items()
    ]
    kernel = container(
        CONTAINER,
        build.image,
        kernel_command(build),
        env=_env(build),
        ports=ports,
        volumeMounts=[
            {"name": "connection", "mountPath": SECRET_DIR, "readOnly": True},
            {"name": "run", "mountPath": RUN_DIR},
        ],
        terminationMessagePolicy="FallbackToLogsOnError",
    )
    volumes: list[dict[str, Any]] = [
        {
            "name": "connection",
            "secret": {"secretName": build.name, "defaultMode": SECRET_MODE},
        },
        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]
    if build.shared_volume:
        volumes.append({"name": "shared", **copy.deepcopy(dict(build.shared_volume))})
        kernel["volumeMounts"].append({"name": "shared", "mountPath": build.shared_mount_path})
        # The notebook's folder: relative paths in the notebook mean what they mean locally.
        kernel["workingDir"] = build.working_dir or build.shared_mount_path
    resources = profile.resources()
    if resources:
        kernel["resources"] = resources
    security = {
        "runAsNonRoot": True,
        "runAsUser": build.run_as_user,
        "runAsGroup": build.run_as_user,
        # Secret files belong to root: the kubelet makes them readable to this group.
        "fsGroup": build.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spec = pod_spec(
        [kernel],
        securityContext=security,
        restartPolicy="Always",
        enableServiceLinks=False,
        terminationGracePeriodSeconds=GRACE_SECONDS,
        volumes=volumes,
    )
    if build.gated:
        spec["schedulingGates"] = [{"name": SCHEDULING_GATE}]
    spec.update(profile.placement())
    if profile.pod_overrides:  # last, as the operator's escape hatch (checked in profiles.py)
        spec = deep_merge(spec, _for_kernel(profile.pod_overrides))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": build.name,
            "namespace": build.namespace,
            # The queue's labels only on the pod: Kueue manages pods, not Secrets.
            "labels": {**labels(build), **queue_labels(build)},
            "annotations": make_annotations(build),
        },
        "spec": spec,
    }


def _for_kernel(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Profile overrides written for job pods name their container "runner": ours is "kernel".

    restartPolicy is ours to choose (restarts keep the pod), so an override can't change it.
    """
    out = {k: v for k, v in overrides.items() if k != "restartPolicy"}
    containers = out.get("containers")
    if isinstance(containers, list):
        out["containers"] = [
            {**c, "name": CONTAINER} if isinstance(c, dict) and c.get("name") == "runner" else c
            for c in containers
        ]
    return out


def ungate_patch() -> dict[str, Any]:
    """The strategic merge patch that removes our gate (the Secret now exists) and only ours:
    a queued pod keeps Kueue's gate until Kueue admits it (a merge patch would replace the
    whole list, letting the pod past its queue)."""
    return {"spec": {"schedulingGates": [{"$patch": "delete", "name": SCHEDULING_GATE}]}}


def set_owner(obj: dict[str, Any], pod: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` owned by the created `pod` (needs its uid): garbage-collected with it."""
    meta = pod.get("metadata") or {}
    if not meta.get("uid"):
        raise ValueError("the pod has no uid: pass the object the API server returned")
    owned = dict(obj)
    owned["metadata"] = {
        **(obj.get("metadata") or {}),
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
                "blockOwnerDeletion": False,
            }
        ],
    }
    return owned
