"""The probe pod: a short restricted pod in the default image that prints the Python version
and whether papermill and ipykernel import, then listens on the first kernel port so that this
process can check it reaches pod IPs as remote kernels need.

Pure parts (the pod, its state, its report line, the findings) and the async run that creates
it, follows it, connects to it and deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..k8s.client import KubeClient, KubeError, Obj, resource_path
from ..k8s.objects import (
    MANAGED_BY,
    condition,
    container,
    event_message,
    events_about,
    pod_spec,
    restricted_pod_security,
)
from ..kernels.objects import DEFAULT_PORTS
from .checks import Check, Status

if TYPE_CHECKING:
    from ..profiles import Profile
    from .config import DoctorSettings

Progress = Callable[[str], Any]

#: Labels of the probe pods: `kubectl delete pods -l app.kubernetes.io/component=doctor-probe`
#: finds any left behind (they also end themselves: activeDeadlineSeconds).
LABEL_COMPONENT = "app.kubernetes.io/component"
PROBE_COMPONENT = "doctor-probe"
PROBE_SELECTOR = f"app.kubernetes.io/managed-by=jupyter-k8s,{LABEL_COMPONENT}={PROBE_COMPONENT}"
PROBE_CONTAINER = "probe"
PROBE_MARKER = "JUPYTER_K8S_DOCTOR"
#: The first port of a kernel pod, where the probe listens.
KERNEL_PORT = DEFAULT_PORTS["shell_port"]
_KERNEL_PORTS = f"{min(DEFAULT_PORTS.values())}-{max(DEFAULT_PORTS.values())}"
PROBE_TIMEOUT = 60.0
MIN_PYTHON = (3, 8)

#: What the probe pod runs (`python3 -c PROBE_SCRIPT NONCE PORT LINGER`): one line with what
#: it found, after it listens on PORT at the pod's IP; every connection gets NONCE back, so
#: the doctor knows it reached this pod and nothing else. It ends after LINGER seconds.
PROBE_SCRIPT = """\
import json, os, shutil, socket, sys, time
nonce, port, linger = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
info = {"python": sys.version.split()[0], "executable": sys.executable}
info["python_command"] = shutil.which("python")
for name in ("papermill", "ipykernel"):
    try:
        module = __import__(name)
        info[name] = str(getattr(module, "__version__", "") or "unknown version")
    except BaseException as exc:
        info[name] = None
        info[name + "_error"] = (type(exc).__name__ + ": " + str(exc))[:300]
ip = os.environ.get("POD_IP") or "0.0.0.0"
server = None
try:
    server = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((ip, port))
    server.listen(8)
    info["listening"] = ip + ":" + str(port)
except OSError as exc:
    info["listen_error"] = (type(exc).__name__ + ": " + str(exc))[:300]
    server = None
print("%s %s" % ("JUPYTER_K8S_DOCTOR", json.dumps(info)), flush=True)
deadline = time.monotonic() + linger
while server is not None and time.monotonic() < deadline:
    server.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        conn, _ = server.accept()
    except OSError:
        break
    try:
        conn.sendall(("%s %s\\n" % ("JUPYTER_K8S_DOCTOR", nonce)).encode())
    except OSError:
        pass
    conn.close()
"""


# -- the pod and what it does ------------------------------------------------------------------


def probe_pod(
    name: str,
    namespace: str,
    image: str,
    *,
    owner_label: str,
    nonce: str,
    port: int = KERNEL_PORT,
    linger: float = PROBE_TIMEOUT,
    profile: Profile | None = None,
) -> Obj:
    """A short restricted pod that reports its Python and listens on `port` for a while."""
    probe = container(
        PROBE_CONTAINER,
        image,
        ["python3", "-c", PROBE_SCRIPT, nonce, str(port), str(int(linger))],
        env=[
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        ports=[{"name": "probe", "containerPort": port, "protocol": "TCP"}],
        resources={
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        terminationMessagePolicy="FallbackToLogsOnError",
    )
    spec = pod_spec(
        [probe],
        securityContext=restricted_pod_security(),
        enableServiceLinks=False,
        terminationGracePeriodSeconds=1,
        # It ends itself should nobody delete it (the doctor killed mid-way).
        activeDeadlineSeconds=int(linger) + 60,
    )
    if profile is not None:  # where the default profile's pods would go
        spec.update(profile.placement())
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                **MANAGED_BY,
                LABEL_COMPONENT: PROBE_COMPONENT,
                "jupyter-k8s.io/owner": owner_label,
            },
        },
        "spec": spec,
    }


def _container_state(pod: Obj) -> tuple[str | None, Obj]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    status = next((s for s in statuses if s.get("name") == PROBE_CONTAINER), None) or {}
    for kind, details in (status.get("state") or {}).items():
        return kind, details or {}
    return None, {}


@dataclass(frozen=True)
class ProbeState:
    phase: str  # pending | running | ended | failed
    reason: str | None = None
    message: str | None = None
    ip: str | None = None

    def text(self) -> str:
        return ": ".join(p for p in (self.phase, self.reason, self.message) if p)


def probe_state(pod: Obj, events: list[Obj] | None = None) -> ProbeState:
    """What the probe pod does, in Kubernetes' words (Unschedulable, ImagePullBackOff, ...)."""
    from ..jobs.status import FAIL_FAST, PROBLEM_WAITING

    status = pod.get("status") or {}
    ip = status.get("podIP")
    name = (pod.get("metadata") or {}).get("name", "")
    about = events_about(events or [], "Pod", name)
    kind, details = _container_state(pod)
    if status.get("phase") in ("Succeeded", "Failed") or kind == "terminated":
        if kind == "terminated":
            reason = details.get("reason") or f"exit code {details.get('exitCode')}"
            return ProbeState("ended", reason, (details.get("message") or "").strip() or None, ip)
        return ProbeState(
            "ended", status.get("reason") or status.get("phase"), status.get("message"), ip
        )
    if kind == "running":
        return ProbeState("running", None, None, ip)
    scheduled = condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        message = scheduled.get("message")
        if not message:
            failed = [e for e in about if e.get("reason") == "FailedScheduling"]
            message = event_message(failed[-1]) if failed else None
        return ProbeState("pending", scheduled.get("reason") or "Unschedulable", message, ip)
    if kind == "waiting" and details.get("reason") in FAIL_FAST:
        return ProbeState("failed", details["reason"], details.get("message"), ip)
    if kind == "waiting" and details.get("reason") in PROBLEM_WAITING:
        return ProbeState("pending", details["reason"], details.get("message"), ip)
    latest = about[-1] if about else None
    if latest is not None and latest.get("reason") in ("Pulling", "FailedMount", "Failed"):
        return ProbeState("pending", latest["reason"], event_message(latest), ip)
    if kind == "waiting" and details.get("reason"):
        return ProbeState("pending", details["reason"], details.get("message"), ip)
    if not (pod.get("spec") or {}).get("nodeName"):
        return ProbeState("pending", "Scheduling", "waiting for the scheduler", ip)
    return ProbeState("pending", "ContainerCreating", None, ip)


def parse_probe_log(text: str) -> Obj | None:
    """The probe's report line, or None when it printed none."""
    for line in reversed(text.splitlines()):
        marker, _, rest = line.partition(" ")
        if marker == PROBE_MARKER:
            with contextlib.suppress(ValueError):
                data = json.loads(rest)
                if isinstance(data, dict):
                    return data
    return None


# -- what it found, as checks -----------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


@dataclass
class ProbeResult:
    """What happened to the probe pod; turned into checks by `probe_findings`."""

    image: str
    pod: str | None = None
    create_error: str | None = None
    state: ProbeState | None = None  # the last one seen
    timed_out: bool = False
    info: Obj | None = None  # the pod's report line
    log_tail: str | None = None
    connect: str | None = None  # "ok" or the error of connecting to the pod
    address: str | None = None


def probe_findings(result: ProbeResult, timeout: float = PROBE_TIMEOUT) -> list[Check]:
    sec = "Probe pod"
    image = result.image
    ids = ("probe.python", "probe.papermill", "probe.ipykernel", "probe.kernel-port")
    names = ("python3", "papermill", "ipykernel", "kernel port")
    image_fix = (
        f"use an image with python3 (>= {'.'.join(map(str, MIN_PYTHON))}), papermill and "
        "ipykernel: set c.JupyterK8s.default_image or the profile's image"
    )

    def all_fail(detail: str, fix: str | None, status: Status = "fail") -> list[Check]:
        return [Check(ids[0], sec, f"probe pod ({image})", status, detail, fix)]

    if result.create_error is not None:
        return all_fail(
            f"cannot create the probe pod: {result.create_error}",
            "see the Permissions and ResourceQuota lines above; Pod Security admission names "
            "the field it refuses",
        )
    info = result.info
    state = result.state
    if info is None:
        if state is not None and state.phase in ("failed", "pending"):
            what = "did not start" + (f" in {timeout:.0f} s" if result.timed_out else "")
            detail = f"{result.pod} {what}: {state.reason or 'Pending'}"
            if state.message:
                detail += f": {state.message}"
            if state.reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                fix = (
                    f"check that the image {image} exists and that the nodes may pull it "
                    "(an imagePullSecret on the namespace's default ServiceAccount for a "
                    "private registry)"
                )
            elif state.reason == "Unschedulable":
                fix = (
                    "no node fits the pod (its message says why): free or add nodes, or fix "
                    "the default profile's node_selector / tolerations"
                )
            else:
                fix = f"kubectl -n NAMESPACE describe pod {result.pod} shows more"
            return all_fail(detail, fix)
        if state is not None and state.phase == "running":
            detail = f"{result.pod} runs but printed no report in {timeout:.0f} s"
            if result.log_tail:
                detail += f"; its log ends: {result.log_tail}"
            return all_fail(
                detail,
                "importing papermill and ipykernel took too long: the node may be short of "
                "CPU; try again with a longer --timeout",
            )
        detail = f"{result.pod} printed no report"
        if state is not None:
            detail += f" ({state.text()})"
        if result.log_tail:
            detail += f"; its log ends: {result.log_tail}"
        return all_fail(detail + ": is python3 in the image?", image_fix)

    checks: list[Check] = []
    python = str(info.get("python") or "?")
    if _version_tuple(python) >= MIN_PYTHON and info.get("python_command", "") is None:
        checks.append(
            Check(
                ids[0],
                sec,
                names[0],
                "fail",
                f"Python {python} in {image}, but no `python` command on the PATH: the job "
                "runner is started as `python runner.py`",
                "make `python` run python3 in the image (Debian/Ubuntu: apt-get install "
                "python-is-python3), or use an image that has it",
            )
        )
    elif _version_tuple(python) >= MIN_PYTHON:
        checks.append(Check(ids[0], sec, names[0], "ok", f"Python {python} in {image}"))
    else:
        checks.append(
            Check(
                ids[0], sec, names[0], "fail", f"Python {python} in {image} is too old", image_fix
            )
        )
    for cid, name, needed_for in (
        (ids[1], "papermill", "notebook jobs"),
        (ids[2], "ipykernel", "notebook jobs and remote kernels"),
    ):
        version = info.get(name)
        if version:
            checks.append(Check(cid, sec, name, "ok", f"{version}"))
        else:
            error = info.get(f"{name}_error") or "not importable"
            checks.append(
                Check(
                    cid,
                    sec,
                    name,
                    "fail",
                    f"missing in {image} ({error}); {needed_for} need it",
                    f"pip install {name} in the image, or use one that has it "
                    "(e.g. quay.io/jupyter/minimal-notebook)",
                )
            )
    port_name = names[3]
    if info.get("listen_error"):
        checks.append(
            Check(
                ids[3],
                sec,
                port_name,
                "warn",
                f"the probe could not listen: {info['listen_error']}",
            )
        )
    elif result.connect == "ok":
        checks.append(
            Check(ids[3], sec, port_name, "ok", f"this server reaches the pod at {result.address}")
        )
    else:
        checks.append(
            Check(
                ids[3],
                sec,
                port_name,
                "fail",
                f"this server cannot reach the pod at {result.address or '?'}: "
                f"{result.connect or 'not tried'}; remote kernels need it (notebook jobs don't)",
                "remote kernels need TCP from the Jupyter server to pod IPs on ports "
                f"{_KERNEL_PORTS}: run the server in the cluster (or on a network that routes "
                "pod IPs), and let a NetworkPolicy allow that ingress",
            )
        )
    return checks


# -- running it --------------------------------------------------------------------------------


async def _connect(ip: str, port: int, nonce: str, timeout: float = 5.0) -> str:
    """'ok' when the probe at ip:port answers its nonce, else why not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer"
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 3)
            try:
                line = await asyncio.wait_for(reader.readline(), 3)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            if line.decode(errors="replace").strip() == f"{PROBE_MARKER} {nonce}":
                return "ok"
            last = f"something else answered there ({line[:60]!r})"
            return last
        except TimeoutError:
            last = "timed out"
        except ConnectionRefusedError:
            last = "connection refused"
        except OSError as exc:
            last = str(exc) or type(exc).__name__
        if loop.time() > deadline:
            return last
        await asyncio.sleep(0.3)


async def run_probe(
    client: KubeClient,
    namespace: str,
    image: str,
    settings: DoctorSettings,
    profile: Profile | None,
    progress: Progress,
) -> ProbeResult:
    from ..names import owner_label

    name = f"jupyter-k8s-doctor-{secrets.token_hex(3)}"
    nonce = secrets.token_hex(8)
    result = ProbeResult(image=image, pod=name)
    pod = probe_pod(
        name,
        namespace,
        image,
        owner_label=owner_label(settings.owner),
        nonce=nonce,
        port=settings.kernel_port,
        linger=settings.probe_timeout,
        profile=profile,
    )
    try:
        await client.create("pods", pod, namespace)
    except KubeError as exc:
        result.create_error = str(exc)
        return result
    progress(f"probe pod {name}: created (image {image})")
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + settings.probe_timeout
        shown = None
        while True:
            try:
                live = await client.get("pods", name, namespace)
            except KubeError as exc:
                result.state = ProbeState("failed", "Error", f"cannot read the pod: {exc}")
                return result
            state = probe_state(live)
            result.state = state
            if state.text() != shown:
                shown = state.text()
                progress(f"probe pod {name}: {shown}")
            if state.phase in ("running", "ended"):
                text = await _probe_log(client, name, namespace)
                result.info = parse_probe_log(text)
                if result.info is not None or state.phase == "ended":
                    tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
                    result.log_tail = " | ".join(tail)[:500] or None
                    break
            if state.phase == "failed":
                break
            if loop.time() > deadline:
                result.timed_out = True
                with contextlib.suppress(KubeError):
                    events = (
                        await client.list(
                            "events", namespace, fieldSelector=f"involvedObject.name={name}"
                        )
                    ).get("items") or []
                    result.state = probe_state(live, events)
                break
            await asyncio.sleep(0.3)
        info = result.info
        if info is not None and info.get("listening"):
            ip = result.state.ip if result.state else None
            if ip:
                result.address = f"{ip}:{settings.kernel_port}"
                progress(f"probe pod {name}: connecting to {result.address}")
                result.connect = await _connect(ip, settings.kernel_port, nonce)
            else:
                result.connect = "the pod has no IP"
        return result
    finally:
        with contextlib.suppress(Exception):
            await client.delete("pods", name, namespace, grace_period=0, missing_ok=True)
        progress(f"probe pod {name}: deleted")


async def _probe_log(client: KubeClient, name: str, namespace: str) -> str:
    try:
        return await client.request(
            "GET",
            resource_path("pods", namespace, name, "log"),
            params={"container": PROBE_CONTAINER},
            raw=True,
            timeout=10,
        )
    except KubeError:
        return ""
