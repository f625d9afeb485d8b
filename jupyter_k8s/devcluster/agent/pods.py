"""The life of one pod on the process node: what the kubelet's pod workers do, in small.

Each pod bound to the node gets one `PodRunner` task: it prepares volumes, runs init
containers in order and then the containers, restarts them as restartPolicy says, enforces
activeDeadlineSeconds, honours deletion with its grace period (SIGTERM, then SIGKILL) and
reports every change as real pod status (phase, conditions, container states with exit
codes and reasons) through the pods/status subresource, and as the kubelet's events (Pulled,
Created, Started, Killing, BackOff...; see events.py), which never hold the pod up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...k8s.client import KubeError, NotFound
from ...k8s.quantity import bytes_of
from . import events
from .envvars import ContainerConfigError, container_env, expand_command
from .events import NORMAL, WARNING, now
from .logs import LogWriter
from .runtime import ContainerProcess, kill_leftovers, start_process
from .volumes import VolumeError, container_mounts, prepare_volumes, read_only_volumes

if TYPE_CHECKING:
    from .node import NodeAgent

log = logging.getLogger("jupyter_k8s.devcluster.agent")

GPU_RESOURCE = "nvidia.com/gpu"
OUR_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
MAX_BACKOFF = 10.0  # the kubelet caps at 5 minutes; a dev node wants faster feedback
TERMINATION_LOG_BYTES = 2048
#: What the kubelet says of a container it can no longer locate (kubelet_pods.go).
LOST_CONTAINER = "The container could not be located when the pod was terminated"

# A Docker-style image path and tag/digest; the host part is split off first (see below).
_PATH_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
_HOST_RE = re.compile(r"^[a-zA-Z0-9.-]+(?::[0-9]+)?$")


def image_problem(image: str | None) -> tuple[str, str] | None:
    """Why an image can't be "pulled" here: invalid references, and hosts under .invalid.

    Images are recorded, not pulled, so every valid reference "exists"; the reserved
    `.invalid` TLD lets tests and demos see the real ErrImagePull path.
    """
    if not image:
        return ("InvalidImageName", "image name is empty")
    host, path = "", image
    first, sep, rest = image.partition("/")
    # As in Docker: the first component is a registry host only if it looks like one.
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    if not _PATH_RE.match(path) or (host and not _HOST_RE.match(host)):
        return (
            "InvalidImageName",
            f'Failed to apply default image tag "{image}": '
            "couldn't parse image name: invalid reference format",
        )
    hostname = host.split(":")[0]
    if hostname.endswith(".invalid"):
        return (
            "ErrImagePull",
            f'failed to pull image "{image}": dial tcp: lookup {hostname}: no such host',
        )
    return None


@dataclass
class ContainerRun:
    """What the status of one container says, plus the process behind it."""

    spec: dict
    init: bool = False
    restart_count: int = 0
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict = field(default_factory=dict)
    process: ContainerProcess | None = None
    log_path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def running(self) -> bool:
        return "running" in self.state

    def status(self) -> dict:
        st: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": f"process://{self.spec.get('image', '')}",
            "restartCount": self.restart_count,
            "ready": self.running and not self.init,
            "started": self.running,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.process is not None:
            st["containerID"] = f"process://{self.process.pid}"
        return st


class PodRunner:
    """Runs one pod until it ends and is deleted."""

    def __init__(self, agent: NodeAgent, pod: dict):
        self.agent = agent
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.ns: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.dir = agent.state_dir / "pods" / self.uid
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.start_time: str = pod.get("status", {}).get("startTime") or now()
        self.pod_ip: str | None = None
        self.gpus: list[int] = []
        self.init_runs = [ContainerRun(c, init=True) for c in pod["spec"].get("initContainers", [])]
        self.runs = [ContainerRun(c) for c in pod["spec"]["containers"]]
        self.initialized = not self.init_runs
        self.deleting = asyncio.Event()
        self.stopping = False  # deletion or deadline: start and restart nothing more
        self.gone = False  # the API object vanished: no more status updates
        self.task: asyncio.Task | None = None
        self._status_lock = asyncio.Lock()
        self._status_dirty = asyncio.Event()

    # -- entry points used by the agent -------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._main(), name=f"pod {self.ns}/{self.name}")
        return self.task

    def update(self, pod: dict) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deleting.set()

    def vanished(self) -> None:
        """The pod was removed from the API (force-deleted): stop now, report nothing."""
        self.gone = True
        self.deleting.set()

    def event(self, kind: str, reason: str, message: str, run: ContainerRun | None = None) -> None:
        """Record an event about this pod (or one of its containers); returns at once."""
        self.agent.event(self.pod, kind, reason, message, run.name if run else None)

    def find(self, container: str) -> ContainerRun | None:
        return next((r for r in [*self.init_runs, *self.runs] if r.name == container), None)

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    # -- the pod's life -----------------------------------------------------------------------

    async def _main(self) -> None:
        try:
            await self._live()
        except asyncio.CancelledError:
            await self._kill_all(0)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not take the node down
            log.exception("pod %s/%s failed in the agent", self.ns, self.name)
            self.phase, self.reason, self.message = "Failed", "NodeAgentError", str(exc)
            await self._kill_all(0)
            await self._report()
        await self.deleting.wait()
        await self._finish_deletion()

    async def _live(self) -> None:
        self.pod_ip = self.agent.ips.allocate(self.uid, self.pod.get("status", {}).get("podIP"))
        self.gpus = self.agent.gpus.allocate(self.uid, self._gpu_request())
        if self.dir.exists():  # a previous node agent ran this pod
            self._stop_leftovers()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._take_over() and self.pod["spec"].get("restartPolicy", "Always") == "Never":
            # What ran is lost, and this pod runs nothing twice: it ends here.
            self._set_phase_after_kill()
            self.agent.gpus.release(self.uid)
            await self._report()
            return
        await self._report()
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        body = asyncio.create_task(self._run_containers())
        waiters = [body, asyncio.create_task(self.deleting.wait())]
        timer = None
        if deadline is not None:
            timer = asyncio.create_task(asyncio.sleep(max(0.0, deadline - self._age())))
            waiters.append(timer)
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if body in done:
            body.result()
        else:
            # Stop the containers and let the body record how each ended (exit code, reason),
            # so status and log followers see them terminated, as a kubelet reports them.
            if timer is not None and timer in done:
                self.event(NORMAL, "DeadlineExceeded", events.DEADLINE)
            self.stopping = True
            await self._kill_all(self._grace(), announce=True)
            try:
                await asyncio.wait_for(asyncio.shield(body), 10)
            except TimeoutError:
                body.cancel()  # stuck before any process started (volumes, config)
                with contextlib.suppress(asyncio.CancelledError):
                    await body
            if timer is not None and timer in done:
                self.phase, self.reason = "Failed", "DeadlineExceeded"
                self.message = "Pod was active on the node longer than the specified deadline"
            else:
                self._set_phase_after_kill()
        for t in waiters:
            t.cancel()
        self.agent.gpus.release(self.uid)
        await self._report()

    def _take_over(self) -> bool:
        """Carry over what a previous node agent did with this pod; True if it started any of
        its containers.

        An agent killed hard (SIGKILL: a node that crashed) leaves its containers' processes
        running with nobody to read their output or exit code; the agent started since finds
        the pod bound to the node, not finished, with a status saying its containers ran.
        Their leftover processes are stopped (two instances of one container never run at
        once), and each container that was running is reported as the kubelet reports a
        container it can no longer locate: terminated, reason ContainerStatusUnknown, exit
        code 137. Then restartPolicy decides, as after any exit: Never ends the pod (Failed;
        a Job's podFailurePolicy and backoffLimit say whether it is retried), Always and
        OnFailure start the container again with its restartCount one higher.
        """
        status = self.pod.get("status") or {}
        before = {
            c.get("name"): c
            for c in [
                *(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or []),
            ]
            if isinstance(c, dict)
        }
        started = {
            name
            for name, c in before.items()
            if set(c.get("state") or {}) & {"running", "terminated"}
        }
        if not started:
            return False
        initialized: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Initialized"), {}
        )
        if initialized.get("status") == "True" or not self.init_runs:
            self.initialized = True
        policy = self.pod["spec"].get("restartPolicy", "Always")
        for run in [*self.init_runs, *self.runs]:
            old = before.get(run.name) or {}
            count = old.get("restartCount")
            run.restart_count = count if type(count) is int and count >= 0 else 0
            run.last_state = old.get("lastState") or {}
            state = old.get("state") or {}
            if "running" in state:
                ended = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "ContainerStatusUnknown",
                        "message": LOST_CONTAINER,
                        "startedAt": state["running"].get("startedAt"),
                        "finishedAt": now(),
                    }
                }
            elif "terminated" in state:
                ended = {"terminated": state["terminated"]}
            else:
                continue
            if run.init and self.initialized:
                run.state = ended  # it had completed
            elif policy == "Never":
                run.state = ended
            else:  # started again by the pod's life below, as after a crash
                run.last_state, run.restart_count = ended, run.restart_count + 1
        if policy == "Never":
            for run in self.runs:
                if "waiting" in run.state:  # never started, and now never will
                    run.state = {
                        "terminated": {
                            "exitCode": 137,
                            "reason": "ContainerStatusUnknown",
                            "message": LOST_CONTAINER,
                            "finishedAt": now(),
                        }
                    }
        if self.initialized and status.get("phase") == "Running":
            self.phase = "Running"  # a status never goes back to Pending
        return True

    def _stop_leftovers(self) -> None:
        """Stop what a previous node agent, killed hard, left running for this pod."""
        killed = kill_leftovers(self.dir)
        if killed:
            log.warning(
                "pod %s/%s: stopped %d processes a previous node agent left running: %s",
                self.ns,
                self.name,
                len(killed),
                killed,
            )

    def _age(self) -> float:
        started = dt.datetime.strptime(self.start_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        return (dt.datetime.now(dt.UTC) - started).total_seconds()

    def _grace(self) -> int:
        meta = self.pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        return 0 if self.gone else int(grace)

    def _gpu_request(self) -> int:
        def count(c: dict) -> int:
            res = c.get("resources", {})
            value = res.get("limits", {}).get(GPU_RESOURCE) or res.get("requests", {}).get(
                GPU_RESOURCE
            )
            return int(value or 0)

        main = sum(count(c) for c in self.pod["spec"]["containers"])
        init = max((count(c) for c in self.pod["spec"].get("initContainers", [])), default=0)
        return max(main, init)

    async def _run_containers(self) -> None:
        for run in [*self.init_runs, *self.runs]:
            if problem := image_problem(run.spec.get("image")):
                run.state = {"waiting": {"reason": problem[0], "message": problem[1]}}
                self._image_problem_events(run, *problem)
        if any(
            "waiting" in r.state and r.state["waiting"]["reason"] != "ContainerCreating"
            for r in [*self.init_runs, *self.runs]
        ):
            await self._report()
            await self._image_backoff()
            return
        volume_paths = await self._prepare_volumes()
        for run in [] if self.initialized else self.init_runs:
            if not await self._run_to_success(run, volume_paths):
                self.phase = "Failed"
                await self._report()
                return
        self.initialized = True
        results = await asyncio.gather(*(self._run_main(r, volume_paths) for r in self.runs))
        self.phase = "Succeeded" if all(results) else "Failed"

    def _image_problem_events(self, run: ContainerRun, reason: str, message: str) -> None:
        # What kubelet's image manager and startContainer say (images/image_manager.go).
        image = run.spec.get("image", "")
        if reason == "ErrImagePull":
            self.event(NORMAL, "Pulling", f'Pulling image "{image}"', run)
            self.event(WARNING, "Failed", f'Failed to pull image "{image}": {message}', run)
        else:
            self.event(WARNING, "InspectFailed", message, run)
        self.event(WARNING, "Failed", f"Error: {reason}", run)

    async def _image_backoff(self) -> None:
        """ErrImagePull turns into ImagePullBackOff, as the kubelet reports it, until deleted."""
        await asyncio.sleep(2)
        for run in [*self.init_runs, *self.runs]:
            waiting = run.state.get("waiting", {})
            if waiting.get("reason") == "ErrImagePull":
                message = f'Back-off pulling image "{run.spec["image"]}"'
                run.state = {"waiting": {"reason": "ImagePullBackOff", "message": message}}
                self.event(NORMAL, "BackOff", message, run)
                self.event(WARNING, "Failed", "Error: ImagePullBackOff", run)
        await self._report()
        await asyncio.Event().wait()

    async def _prepare_volumes(self) -> dict[str, Path]:
        while True:
            try:
                return await prepare_volumes(
                    self.pod_view(),
                    self.dir,
                    self.agent.fetch,
                    self._request_token,
                    node_allocatable=self.agent.allocatable,
                )
            except VolumeError as exc:
                for run in [*self.init_runs, *self.runs]:
                    run.state = {"waiting": {"reason": "ContainerCreating"}}
                self.message = str(exc)
                self.event(WARNING, exc.reason, str(exc))
                await self._report()
                await asyncio.sleep(2)

    async def _request_token(self, audience: str | None, seconds: int) -> str:
        return await self.agent.pod_token(self.pod, audience, seconds)

    async def _run_to_success(self, run: ContainerRun, volume_paths: dict[str, Path]) -> bool:
        """An init container: retried until it succeeds unless restartPolicy is Never."""
        policy = self.pod["spec"].get("restartPolicy", "Always")
        backoff = 1.0
        while True:
            code = await self._run_once(run, volume_paths)
            if code == 0:
                return True
            if policy == "Never" or self.stopping:
                return False
            backoff = await self._crash_backoff(run, backoff)

    async def _run_main(self, run: ContainerRun, volume_paths: dict[str, Path]) -> bool:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        backoff = 1.0
        while True:
            code = await self._run_once(run, volume_paths)
            if policy == "Never" or (policy == "OnFailure" and code == 0) or self.stopping:
                return code == 0
            backoff = await self._crash_backoff(run, backoff)

    async def _crash_backoff(self, run: ContainerRun, backoff: float) -> float:
        run.last_state, run.restart_count = run.state, run.restart_count + 1
        run.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {backoff:.0f}s restarting failed container",
            }
        }
        self.event(WARNING, "BackOff", events.restart_backoff(run.name, self.pod), run)
        await self._report()
        await asyncio.sleep(backoff)
        return min(backoff * 2, MAX_BACKOFF)

    async def _run_once(self, run: ContainerRun, volume_paths: dict[str, Path]) -> int:
        """Start the container, wait for it, record its end; returns its exit code."""
        spec = run.spec
        while True:
            if not self.stopping:  # kubelet: the image first, then the container's config
                self.event(NORMAL, "Pulled", events.image_present(spec.get("image", "")), run)
            try:
                env = await container_env(
                    self.pod_view(),
                    spec,
                    self.agent.fetch,
                    base=self._base_env(run),
                    node_allocatable=self.agent.allocatable,
                )
                break
            except ContainerConfigError as exc:
                run.state = {
                    "waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}
                }
                self.event(WARNING, "Failed", f"Error: {exc}", run)
                await self._report()
                await asyncio.sleep(2)
        argv = expand_command([*spec.get("command", []), *spec.get("args", [])], env)
        if self.stopping:
            return 137  # deleted before it started: start nothing
        self.event(NORMAL, "Created", events.CREATED, run)
        if not spec.get("command"):
            return await self._start_failed(
                run,
                "the process node runs a container's command and args; this container sets "
                "no command (image entrypoints are not known here)",
            )
        mounts = container_mounts(
            spec, volume_paths, env=env, read_only=read_only_volumes(self.pod)
        )
        cdir = self.dir / "containers" / run.name
        cdir.mkdir(parents=True, exist_ok=True)
        run.log_path = cdir / f"{run.restart_count}.log"
        limit = spec.get("resources", {}).get("limits", {}).get("memory")
        try:
            proc = await start_process(
                argv,
                env,
                Path(spec.get("workingDir") or self.dir / "rootfs"),
                mounts,
                memory_limit=bytes_of(limit) if limit else None,
                cgroup_name=f"{self.uid}-{run.name}",
                isolate_mounts=self.agent.isolate_mounts,
                use_cgroups=self.agent.use_cgroups,
            )
        except OSError as exc:
            return await self._start_failed(
                run, f"failed to start {argv[0]!r}: {exc.strerror or exc}"
            )
        run.process = proc
        if self.stopping:  # deletion came while it was starting: it gets no grace
            proc.signal(signal.SIGKILL)
        (cdir / "pid").write_text(str(proc.pid))
        started = now()
        run.state = {"running": {"startedAt": started}}
        self.event(NORMAL, "Started", events.STARTED, run)
        if self.phase == "Pending" and self.initialized:
            self.phase = "Running"
        await self._report()
        writer = LogWriter(
            run.log_path,
            max_size=self.agent.opts.container_log_max_size,
            max_files=self.agent.opts.container_log_max_files,
        )
        stdout, stderr = proc.process.stdout, proc.process.stderr
        assert stdout is not None and stderr is not None  # start_process opens both as pipes
        pumps = [
            asyncio.create_task(writer.pump(stdout, "stdout")),
            asyncio.create_task(writer.pump(stderr, "stderr")),
        ]
        code, oom = await proc.wait()
        await asyncio.gather(*pumps, return_exceptions=True)
        writer.close()
        (cdir / "pid").unlink(missing_ok=True)
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        term: dict[str, Any] = {
            "exitCode": code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": now(),
            "containerID": f"process://{proc.pid}",
        }
        if code != 0 and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            term["message"] = _log_tail(run.log_path)
        run.state = {"terminated": term}
        await self._report()
        return code

    async def _start_failed(self, run: ContainerRun, message: str) -> int:
        # What the kubelet reports when the runtime can't start the process (exit code 128).
        self.event(WARNING, "Failed", f"Error: {message}", run)
        run.state = {
            "terminated": {
                "exitCode": 128,
                "reason": "StartError",
                "message": message,
                "startedAt": now(),
                "finishedAt": now(),
            }
        }
        await self._report()
        return 128

    def _base_env(self, run: ContainerRun) -> dict[str, str]:
        env = self.agent.base_env()
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        env.update(HOME=str(home), HOSTNAME=self.name)
        if self.gpus and _gpu_count(run.spec):
            ids = ",".join(str(i) for i in self.gpus)
            env.update(NVIDIA_VISIBLE_DEVICES=ids, CUDA_VISIBLE_DEVICES=ids)
        return env

    def pod_view(self) -> dict:
        """The pod as the downward API sees it: with the IPs this node gave it."""
        view = dict(self.pod)
        status = dict(view.get("status", {}))
        status.update(
            podIP=self.pod_ip,
            podIPs=[{"ip": self.pod_ip}],
            hostIP=self.agent.host_ip,
            hostIPs=[{"ip": self.agent.host_ip}],
        )
        view["status"] = status
        return view

    # -- stopping -----------------------------------------------------------------------------

    async def _kill_all(self, grace: int, announce: bool = False) -> None:
        """SIGTERM, SIGKILL after `grace` s; `announce`: with the kubelet's Killing events."""
        live = [
            r
            for r in [*self.init_runs, *self.runs]
            if r.process is not None and r.process.process.returncode is None
        ]
        if announce:
            for r in live:
                self.event(NORMAL, "Killing", events.stopping(r.name), r)
        procs = [r.process for r in live if r.process is not None]
        for p in procs:
            p.signal(signal.SIGTERM)
        if procs:
            waits = [asyncio.create_task(p.process.wait()) for p in procs]
            _, pending = await asyncio.wait(waits, timeout=grace)
            for p in procs:
                if p.process.returncode is None:
                    p.signal(signal.SIGKILL)
            if pending:
                await asyncio.wait(pending, timeout=5)
        for r in [*self.init_runs, *self.runs]:
            if not r.running and "waiting" in r.state:
                r.state = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was terminated",
                        "finishedAt": now(),
                    }
                }

    def _set_phase_after_kill(self) -> None:
        """A pod stopped for deletion ends Succeeded only if every container exited 0."""
        ok = all(r.state.get("terminated", {}).get("exitCode") == 0 for r in self.runs)
        self.phase = "Succeeded" if ok else "Failed"

    async def _finish_deletion(self) -> None:
        if not self.terminal:
            await self._kill_all(self._grace(), announce=True)
            self._set_phase_after_kill()
            await self._report()
        if not self.gone:
            # As the kubelet does: the final delete, with no grace left, for this exact pod.
            body = {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}
            with contextlib.suppress(NotFound):
                try:
                    await self.agent.client.request(
                        "DELETE", f"/api/v1/namespaces/{self.ns}/pods/{self.name}", body=body
                    )
                except KubeError as exc:
                    if exc.status != 409:  # 409: uid changed, a new pod took the name
                        log.warning("final delete of %s/%s failed: %s", self.ns, self.name, exc)
        self.cleanup()

    def cleanup(self) -> None:
        self.agent.recorder.forget(self.uid)
        self.agent.gpus.release(self.uid)
        self.agent.ips.release(self.uid)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- status -------------------------------------------------------------------------------

    def status(self) -> dict:
        ts = now()
        conds = {c["type"]: c for c in self.pod.get("status", {}).get("conditions", [])}
        ready = self.phase == "Running" and all(r.running for r in self.runs)

        def cond(kind: str, ok: bool, reason: str | None = None) -> dict:
            old = conds.get(kind, {})
            status = "True" if ok else "False"
            c = {
                "type": kind,
                "status": status,
                "lastTransitionTime": old.get("lastTransitionTime")
                if old.get("status") == status
                else ts,
            }
            if reason and not ok:
                c["reason"] = reason
            return c

        containers_ready_reason = "PodCompleted" if self.terminal else "ContainersNotReady"
        ours = [
            cond("PodReadyToStartContainers", self.pod_ip is not None and not self.terminal),
            cond("Initialized", self.initialized, "ContainersNotInitialized"),
            cond("ContainersReady", ready, containers_ready_reason),
            cond("Ready", ready, containers_ready_reason),
        ]
        others = [c for t, c in conds.items() if t not in OUR_CONDITIONS]
        status: dict[str, Any] = {
            "phase": self.phase,
            "conditions": others + ours,
            "hostIP": self.agent.host_ip,
            "hostIPs": [{"ip": self.agent.host_ip}],
            "startTime": self.start_time,
            "containerStatuses": [r.status() for r in self.runs],
        }
        if self.pod_ip:
            status.update(podIP=self.pod_ip, podIPs=[{"ip": self.pod_ip}])
        if self.init_runs:
            status["initContainerStatuses"] = [r.status() for r in self.init_runs]
        if self.reason:
            status["reason"] = self.reason
        if self.message and (self.reason or self.terminal):
            status["message"] = self.message
        return status

    async def _report(self) -> None:
        """Send the current status; concurrent callers coalesce into the latest state."""
        if self.gone:
            return
        self._status_dirty.set()
        async with self._status_lock:
            if not self._status_dirty.is_set():
                return
            self._status_dirty.clear()
            await self.agent.patch_status(self, self.status())


def _gpu_count(container: dict) -> int:
    res = container.get("resources", {})
    return int(
        res.get("limits", {}).get(GPU_RESOURCE) or res.get("requests", {}).get(GPU_RESOURCE) or 0
    )


def _log_tail(path: Path | None) -> str:
    """The end of a container's log, for FallbackToLogsOnError (the kubelet keeps 2 KiB)."""
    if path is None or not path.exists():
        return ""
    data = path.read_bytes()[-TERMINATION_LOG_BYTES * 4 :].decode(errors="replace")
    lines = []
    for record in data.splitlines():
        parts = record.split(" ", 3)
        if len(parts) == 4:
            lines.append(parts[3])
    return "\n".join(lines)[-TERMINATION_LOG_BYTES:]
