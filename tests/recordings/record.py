"""Record what a real cluster says while notebook jobs and kernel pods go right and wrong.

The status code (jupyter_k8s/jobs/status.py, jupyter_k8s/kernels/status.py) turns Jobs, pods
and events into the states and reasons a user reads. Its unit tests build those objects by
hand; tests/unit/test_status_recordings.py also replays what a real control plane and node
agent sent, in the order they sent it, from the files this script writes.

Run it by hand, from the repository root, under the integration tests' lock (it starts its
own local cluster, as the tests' `dev_cluster` fixture does: one node with one nvidia.com/gpu;
all scenarios take about two minutes):

    flock /tmp/jk8s-it.lock python tests/recordings/record.py            # every scenario
    flock /tmp/jk8s-it.lock python tests/recordings/record.py job-oomkilled kernel-deleted

Each scenario gets a fresh namespace. The objects are made as the product makes them
(JobService.submit for jobs, KernelService.create for kernel pods), and three watch caches
(the reflector the services use) of Jobs, Pods and Events in that namespace record every
change they see, in order, until the scenario reaches its end. Then
tests/recordings/<scenario>.jsonl gets one line per change:

    {"resource": "pods", "type": "MODIFIED", "object": {...}}

Objects are trimmed to what the status code and a person debugging it read (see Trimmer;
a change only in what was trimmed away is not written) and scrubbed: anything shaped like a
token is replaced, and a line holding the kernel's connection key stops the recording. The
files stay small (under 200 KB together): check `du -cb tests/recordings/*.jsonl`.

After re-recording, run the replay tests and read what changed like any other diff: the
cluster's words may differ from one Kubernetes version to the next, and that is the point.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: builders.py

from builders import notebook, write_notebook  # noqa: E402

from jupyter_k8s.devcluster.bootstrap import DEFAULT_IMAGE  # noqa: E402
from jupyter_k8s.devcluster.controlplane import DevCluster  # noqa: E402
from jupyter_k8s.jobs.models import SubmitRequest  # noqa: E402
from jupyter_k8s.jobs.objects import ANN_OUTPUT_STATE as OUTPUT_STATE  # noqa: E402
from jupyter_k8s.jobs.service import JobsConfig, JobService  # noqa: E402
from jupyter_k8s.k8s.client import KubeClient, NotFound, load_config  # noqa: E402
from jupyter_k8s.k8s.tenancy import apply_rbac, create_namespace  # noqa: E402
from jupyter_k8s.k8s.watch import Reflector  # noqa: E402
from jupyter_k8s.kernels.objects import (  # noqa: E402
    DEFAULT_PORTS,
    KernelPodBuild,
    make_connection_info,
)
from jupyter_k8s.kernels.service import KernelsConfig, KernelService  # noqa: E402
from jupyter_k8s.profiles import load_profiles  # noqa: E402

Obj = dict[str, Any]
OWNER = "recorder"
GPUS = 1  # as tests/conftest.py's dev cluster
BAD_IMAGE = "registry.invalid/team/notebook:1"  # the node agent's ErrImagePull path
PROFILES = load_profiles(
    [
        {"name": "cpu", "default": True, "cpu_request": "100m"},
        {"name": "gpu2", "cpu_request": "100m", "gpus": 2},  # more than the node has
        {"name": "small", "cpu_request": "100m", "memory_limit": "256Mi"},
    ],
    DEFAULT_IMAGE,
)
# Touches every page (b"x" * n writes them; a bytearray of zeros might not).
EAT_MEMORY = "block = b'x' * (2 * 1024**3)"


# -- trimming and scrubbing ---------------------------------------------------------------------

_META = (
    "name",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
)
_POD_SPEC = (
    "nodeName",
    "restartPolicy",
    "schedulingGates",
    "tolerations",
    "activeDeadlineSeconds",
    "terminationGracePeriodSeconds",
)
_JOB_SPEC = ("backoffLimit", "activeDeadlineSeconds", "suspend", "ttlSecondsAfterFinished")
_EVENT = (
    "involvedObject",
    "reason",
    "message",
    "type",
    "count",
    "firstTimestamp",
    "lastTimestamp",
    "eventTime",
    "series",
    "source",
)
_INVOLVED = ("kind", "name", "uid", "fieldPath")
_LABELS = ("jupyter-k8s.io/", "batch.kubernetes.io/job-name")
# What the API server's DefaultTolerationSeconds admission gives every pod: the same in each
# line, and read only for NodeNotReady, which no recording here has.
_DEFAULT_TOLERATION_KEYS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_TOKEN = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")  # a JWT: a ServiceAccount token
_FRAME = re.compile(r"(##jupyter-k8s-output## begin [^\n]*\n).*?(##jupyter-k8s-output## end)", re.S)


def _pick(obj: Obj | None, keys: tuple[str, ...]) -> Obj:
    return {k: copy.deepcopy(obj[k]) for k in keys if obj and k in obj}


def _compact(value: Any) -> Any:
    """Without null and empty fields (lastProbeTime: null, lastState: {}): the status code
    reads a missing, a null and an empty one alike."""
    if isinstance(value, dict):
        items = ((k, _compact(v)) for k, v in value.items())
        return {k: v for k, v in items if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _container_status(status: Obj) -> Obj:
    """A container's status without its ids, and with the executed notebook that a log tail
    as termination message may hold (base64 between the output frame's lines) left out."""
    kept = {k: v for k, v in status.items() if k not in ("containerID", "imageID", "image")}
    for which in ("state", "lastState"):
        for details in (kept.get(which) or {}).values():
            details.pop("containerID", None)
            if isinstance(details.get("message"), str):
                details["message"] = _FRAME.sub(
                    r"\1<the executed notebook>\n\2", details["message"]
                )
    return kept


class Trimmer:
    """What the status code reads of an object, and what a person needs to follow it.

    Left out: managedFields, resourceVersions, the namespace (one per recording), volumes,
    commands, environment, securityContext, the job template's pod beyond its containers'
    names and images, labels and annotations that are not ours or the Job controller's.
    Uids become uid-1, uid-2... (the same uid, the same alias, within one recording).
    """

    def __init__(self) -> None:
        self.uids: dict[str, str] = {}

    def uid(self, value: str) -> str:
        return self.uids.setdefault(value, f"uid-{len(self.uids) + 1}")

    def __call__(self, resource: str, obj: Obj) -> Obj:
        meta = _pick(obj.get("metadata"), _META)
        if "uid" in meta:
            meta["uid"] = self.uid(meta["uid"])
        meta["ownerReferences"] = [
            dict(_pick(r, ("kind", "name", "controller")), uid=self.uid(r["uid"]))
            for r in meta.get("ownerReferences") or []
        ]
        # Ours (the job status reads the Job's), and the Job controller's pod label.
        meta["labels"] = {
            k: v for k, v in (meta.get("labels") or {}).items() if k.startswith(_LABELS)
        }
        meta["annotations"] = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if k.startswith("jupyter-k8s.io/") and resource == "jobs"
        }
        out: Obj = {"kind": {"jobs": "Job", "pods": "Pod"}.get(resource, "Event"), "metadata": meta}
        if resource == "pods":
            out["spec"] = self._pod_spec(obj.get("spec") or {})
            status = copy.deepcopy(obj.get("status") or {})
            for key in ("hostIPs", "podIPs"):
                status.pop(key, None)
            for key in ("containerStatuses", "initContainerStatuses"):
                status[key] = [_container_status(c) for c in status.get(key) or []]
            out["status"] = status
        elif resource == "jobs":
            spec = obj.get("spec") or {}
            template = ((spec.get("template") or {}).get("spec")) or {}
            out["spec"] = _pick(spec, _JOB_SPEC)
            out["spec"]["template"] = {
                "spec": {
                    "containers": [
                        _pick(c, ("name", "image")) for c in template.get("containers") or []
                    ]
                }
            }
            out["status"] = copy.deepcopy(obj.get("status") or {})
        else:
            out.update(_pick(obj, _EVENT))
            involved = _pick(obj.get("involvedObject"), _INVOLVED)
            if "uid" in involved:
                involved["uid"] = self.uid(involved["uid"])
            out["involvedObject"] = involved
            out["metadata"] = {"name": meta["name"]}
        return _compact(out)

    @staticmethod
    def _pod_spec(spec: Obj) -> Obj:
        trimmed = _pick(spec, _POD_SPEC)
        trimmed["tolerations"] = [
            t
            for t in trimmed.get("tolerations") or []
            if not (t.get("key") in _DEFAULT_TOLERATION_KEYS and t.get("tolerationSeconds") == 300)
        ]
        trimmed["containers"] = [
            _pick(c, ("name", "image", "resources")) for c in spec.get("containers") or []
        ]
        return trimmed


def scrub(line: str, forbidden: list[str]) -> str:
    line = _TOKEN.sub("<scrubbed-token>", line)
    for secret in forbidden:
        if secret and secret in line:
            raise RuntimeError("a recorded object holds a secret: the recording is stopped")
    return line


# -- one scenario -------------------------------------------------------------------------------


@dataclass
class Scene:
    """A fresh namespace, the services acting in it, and the watches recording it."""

    admin: KubeClient
    namespace: str
    root: Path
    forbidden: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    trim: Trimmer = field(default_factory=Trimmer)
    _last: dict[tuple[str, str], Obj] = field(default_factory=dict)
    watches: dict[str, Reflector] = field(default_factory=dict)
    jobs: JobService | None = None
    kernels: KernelService | None = None

    async def record(self) -> None:
        for resource in ("jobs", "pods", "events"):
            watch = Reflector(self.admin, resource, self.namespace)
            watch.add_listener(self._listener(resource))
            watch.start()
            self.watches[resource] = watch
        await asyncio.gather(*(w.ready.wait() for w in self.watches.values()))

    def _listener(self, resource: str) -> Callable[[str, Obj], None]:
        def listener(kind: str, obj: Obj) -> None:
            trimmed = self.trim(resource, obj)
            key = (resource, trimmed["metadata"]["name"])
            # A change only in what was trimmed away (a heartbeat, managedFields) is no
            # change for the status code: one line less to read.
            if kind == "MODIFIED" and self._last.get(key) == trimmed:
                return
            self._last[key] = trimmed
            line = json.dumps(
                {"resource": resource, "type": kind, "object": trimmed},
                sort_keys=True,
                separators=(",", ":"),
            )
            self.lines.append(scrub(line, self.forbidden))

        return listener

    async def stop(self) -> None:
        for watch in self.watches.values():
            await watch.stop()

    def items(self, resource: str) -> list[Obj]:
        return self.watches[resource].items()

    async def until(self, what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.namespace}: never saw {what}")
            await asyncio.sleep(0.1)
        return result

    # -- what the scenarios wait for --------------------------------------------------------

    def job(self) -> Obj | None:
        jobs = self.items("jobs")
        return jobs[0] if jobs else None

    def job_condition(self, *types: str) -> bool:
        conds = ((self.job() or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") in types and c.get("status") == "True" for c in conds)

    def job_annotation(self, key: str) -> str | None:
        return (((self.job() or {}).get("metadata") or {}).get("annotations") or {}).get(key)

    def pod(self) -> Obj | None:
        pods = self.items("pods")
        return pods[0] if pods else None

    def container(self) -> Obj:
        statuses = ((self.pod() or {}).get("status") or {}).get("containerStatuses") or []
        return statuses[0] if statuses else {}

    def waiting(self, reason: str) -> bool:
        return ((self.container().get("state") or {}).get("waiting") or {}).get("reason") == reason

    def terminated(self, reason: str | None = None) -> bool:
        for state in (self.container().get("state"), self.container().get("lastState")):
            done = (state or {}).get("terminated")
            if done and (reason is None or done.get("reason") == reason):
                return True
        return False

    def event(self, reason: str) -> bool:
        return any(e.get("reason") == reason for e in self.items("events"))

    # -- acting as the product ----------------------------------------------------------------

    async def submit(self, nb: Obj, **request: Any) -> str:
        assert self.jobs is not None
        write_notebook(self.root / "nb.ipynb", nb)
        info, _ = await self.jobs.submit(SubmitRequest(notebook="nb.ipynb", **request))
        return info.id

    async def kernel(self, profile: str = "cpu", image: str = DEFAULT_IMAGE, **build: Any) -> str:
        assert self.kernels is not None
        kernel_id = str(uuid.uuid4())
        name = f"kernel-{kernel_id[:8]}"
        key = secrets.token_hex(32)
        self.forbidden.append(key)
        pod = KernelPodBuild(
            name=name,
            namespace=self.namespace,
            kernel_id=kernel_id,
            kernel_name=f"k8s-{profile}",
            owner=OWNER,
            profile=PROFILES.get(profile),
            image=image,
            **build,
        )
        info = make_connection_info(DEFAULT_PORTS, key, kernel_name=pod.kernel_name)
        await self.kernels.create(pod, info)
        return name


Scenario = Callable[[Scene], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__.replace("_", "-")] = fn
    return fn


# -- notebook jobs ------------------------------------------------------------------------------


@scenario
async def job_succeeded(s: Scene) -> None:
    await s.submit(notebook("print('hello', n)", parameters="n = 1"))
    await s.until("the output collected", lambda: s.job_annotation(OUTPUT_STATE) == "ready")


@scenario
async def job_notebook_error(s: Scene) -> None:
    """The container exits 1: the notebook raised."""
    await s.submit(notebook("x = 40", "raise ValueError(f'bad row {x}')", parameters="n = 1"))
    await s.until("the job failed", lambda: s.job_condition("Failed"))
    await s.until("the output collected", lambda: s.job_annotation(OUTPUT_STATE) == "ready")


@scenario
async def job_oomkilled(s: Scene) -> None:
    await s.submit(notebook(EAT_MEMORY), profile="small")
    await s.until("the job failed", lambda: s.job_condition("Failed"))
    await s.until("the pod's OOMKilled", lambda: s.terminated("OOMKilled"))


@scenario
async def job_unschedulable(s: Scene) -> None:
    """Two GPUs asked of a one-GPU node, then cancelled by the user."""
    name = await s.submit(notebook("print('never')"), profile="gpu2")
    await s.until("the scheduler's answer", lambda: s.event("FailedScheduling"), 60)
    await asyncio.sleep(2)
    assert s.jobs is not None
    await s.jobs.cancel(name)
    await s.until("the job failed", lambda: s.job_condition("Failed"))
    await s.until("the pod gone", lambda: s.pod() is None)


@scenario
async def job_bad_image(s: Scene) -> None:
    """ErrImagePull, ImagePullBackOff, and the service failing the job at once."""
    await s.submit(notebook("print('never')"), image=BAD_IMAGE)
    await s.until("the job failed", lambda: s.job_condition("Failed"), 90)
    await s.until("the pod gone", lambda: s.pod() is None)


@scenario
async def job_pod_deleted(s: Scene) -> None:
    """Someone deletes the running pod (kubectl delete pod)."""
    await s.submit(notebook("print('started', flush=True)", "import time\ntime.sleep(600)"))
    await s.until("the pod running", lambda: "running" in (s.container().get("state") or {}))
    await asyncio.sleep(3)  # the runner is in the sleeping cell
    pod = s.pod()
    assert pod is not None
    await s.admin.delete("pods", pod["metadata"]["name"], s.namespace)
    await s.until("the job failed", lambda: s.job_condition("Failed"), 90)
    await s.until("the pod gone", lambda: s.pod() is None)


# -- kernel pods --------------------------------------------------------------------------------


@scenario
async def kernel_unschedulable(s: Scene) -> None:
    name = await s.kernel("gpu2")
    await s.until("the scheduler's answer", lambda: s.event("FailedScheduling"), 60)
    await asyncio.sleep(2)
    await s.admin.delete("pods", name, s.namespace, grace_period=0)
    await s.until("the pod gone", lambda: s.pod() is None)


@scenario
async def kernel_bad_image(s: Scene) -> None:
    name = await s.kernel(image=BAD_IMAGE)
    await s.until("ImagePullBackOff", lambda: s.waiting("ImagePullBackOff"), 60)
    await s.admin.delete("pods", name, s.namespace, grace_period=0)
    await s.until("the pod gone", lambda: s.pod() is None)


@scenario
async def kernel_exits(s: Scene) -> None:
    """A kernel that exits 1 at once: restarted in its pod (restartPolicy Always)."""
    argv = ("python3", "-c", "import sys; sys.exit('No module named ipykernel_launcher')")
    name = await s.kernel(argv=argv)
    await s.until("CrashLoopBackOff", lambda: s.waiting("CrashLoopBackOff"), 60)
    await s.admin.delete("pods", name, s.namespace, grace_period=0)
    await s.until("the pod gone", lambda: s.pod() is None)


@scenario
async def kernel_oomkilled(s: Scene) -> None:
    name = await s.kernel("small", argv=("python3", "-c", EAT_MEMORY))
    await s.until("OOMKilled", lambda: s.terminated("OOMKilled"), 60)
    await s.admin.delete("pods", name, s.namespace, grace_period=0)
    await s.until("the pod gone", lambda: s.pod() is None)


@scenario
async def kernel_deleted(s: Scene) -> None:
    """A running kernel whose pod is deleted (its grace period: the kernel's SIGTERM)."""
    name = await s.kernel()
    await s.until("the pod running", lambda: "running" in (s.container().get("state") or {}))
    await asyncio.sleep(2)
    await s.admin.delete("pods", name, s.namespace)
    await s.until("the pod gone", lambda: s.pod() is None, 60)


# -- running them -------------------------------------------------------------------------------


async def run(cluster: DevCluster, name: str, work: Path) -> Path:
    config = await load_config(str(cluster.admin_kubeconfig))
    async with KubeClient(config) as admin:
        namespace = f"rec-{name}-{uuid.uuid4().hex[:5]}"[:63]
        await create_namespace(admin, namespace)
        await apply_rbac(admin, namespace)
        await _service_account(admin, namespace)
        root = work / name
        root.mkdir(parents=True)

        async def get_client() -> KubeClient:
            return admin

        scene = Scene(admin, namespace, root)
        scene.jobs = JobService(
            get_client,
            PROFILES,
            JobsConfig(
                namespace=namespace, owner=OWNER, root_dir=root, default_image=DEFAULT_IMAGE
            ),
        )
        scene.kernels = KernelService(
            get_client,
            PROFILES,
            KernelsConfig(namespace=namespace, owner=OWNER, default_image=DEFAULT_IMAGE),
        )
        await scene.record()
        try:
            await SCENARIOS[name](scene)
            await asyncio.sleep(1)  # what the last change set off (events, a final status)
        finally:
            await scene.stop()
            await scene.jobs.stop()
            await _clean(admin, namespace)
    out = HERE / f"{name}.jsonl"
    out.write_text("".join(line + "\n" for line in scene.lines))
    return out


async def _service_account(admin: KubeClient, namespace: str) -> None:
    # Pods can't be created before the ServiceAccount admission finds "default".
    for _ in range(100):
        try:
            await admin.get("serviceaccounts", "default", namespace)
            return
        except NotFound:
            await asyncio.sleep(0.1)


async def _clean(admin: KubeClient, namespace: str) -> None:
    """Stop what still runs now (a kernel holds its ports on the process node), then drop
    the namespace."""
    for job in (await admin.list("jobs", namespace))["items"]:
        await admin.delete("jobs", job["metadata"]["name"], namespace, missing_ok=True)
    for pod in (await admin.list("pods", namespace))["items"]:
        await admin.delete(
            "pods", pod["metadata"]["name"], namespace, grace_period=0, missing_ok=True
        )
    for _ in range(300):
        if not (await admin.list("pods", namespace))["items"]:
            break
        await asyncio.sleep(0.1)
    await admin.delete("namespaces", namespace, missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    args = parser.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="jk8s-record-") as tmp:
        cluster = DevCluster(Path(tmp) / "cluster", gpus=GPUS)
        cluster.up(wait=True, timeout=180)
        try:
            for name in names:
                started = time.monotonic()
                out = asyncio.run(run(cluster, name, Path(tmp) / "work"))
                lines = len(out.read_text().splitlines())
                print(
                    f"{name}: {lines} changes, {out.stat().st_size // 1024} KiB "
                    f"in {time.monotonic() - started:.0f} s -> {out.relative_to(HERE.parents[1])}",
                    flush=True,
                )
        finally:
            cluster.down(quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
