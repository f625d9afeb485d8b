"""`k8s-pod`: a jupyter_client kernel provisioner that runs the kernel in a Kubernetes pod.

Registered under the `jupyter_client.kernel_provisioners` entry point, so any client of
jupyter_client (a Jupyter server, papermill, nbclient, jupyter_kernel_test) starts these
kernels from a kernelspec whose metadata names it. Fully async: every Kubernetes call goes
through `KubeClient`, `poll()` reads the watch-fed cache of `KernelService`.

Life of a kernel:

* start: the server's HMAC key, the CurveZMQ key pair (see "Transport encryption" below) and
  the five fixed ports go into a Secret; the pod, created with a scheduling gate, gets the
  Secret owned by it, then the gate is lifted. A profile that names a Kueue queue puts the
  pod in it (kernels/queueing.py): checked first (Kueue, the LocalQueue, the priority
  class), then the pod waits for Kueue's admission, its place in the queue in its status,
  within the same `start_timeout`. While the pod waits, its state (the
  scheduler's message, image pull, container creation) is logged and kept in
  `KernelService.statuses`. A bad image or config fails at once with the Kubernetes reason;
  `start_timeout` ends the wait with the last reason. Either way the pod is deleted. The start
  is done when the pod runs and the kernel answers on its heartbeat port.
* interrupt: message-based (`interrupt_mode: message` in the kernelspec), nothing else runs
  in the pod for it.
* restart: the kernel exits on the shutdown request, the kubelet starts it again in the same
  pod (restartPolicy Always): same IP, same ports, same GPU, same Secret. `poll()` sees the old
  instance end through the container's restartCount, `launch_kernel` waits for the new one.
  When that can't be (the pod is gone, the kubelet's back-off is long, the kernel hangs and
  had to be killed), a new pod is made.
* shutdown: the pod and its Secret are deleted.
* a dying pod (OOMKilled, evicted, deleted, node lost) makes `poll()` report the kernel dead;
  the reason is logged, kept in the status and set as the kernel's `reason`.

Transport encryption: CurveZMQ by default. When the kernelspec declares
`supported_encryption: ["curve"]` (the served and installed k8s kernelspecs do, unless
`c.JupyterK8s.kernel_curve = False`) the provisioner makes a key pair whatever the kernel
manager's `transport_encryption` policy says ("disabled" is only jupyter_server's default).
The secret key travels only in the kernel's Secret. Whether the image's ipykernel uses it
(7.4 or newer) shows at the first heartbeat: the server asks with a Curve socket and a plain
one at once, and exactly one can answer. An old ipykernel answers the plain one: the kernel
then runs unencrypted (the keys are dropped on the server's side), with a warning in the log
and `encryption: "none"` and the reason in its status; with `transport_encryption =
"required"` the start fails instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import time
from typing import TYPE_CHECKING, Any, cast

import zmq
import zmq.asyncio
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Dict, Float, Unicode

from ..errors import KernelStartProblem, ValidationProblem
from ..k8s.cluster_defaults import NO_IMAGE_HINT
from ..k8s.pods import pod_ip
from ..names import random_suffix
from ..profiles import Profile, ProfileError, load_profiles
from ..queues.models import QueueInfo
from .objects import (
    GRACE_SECONDS,
    PASSED_ENV,
    KernelPodBuild,
    kueue_gated,
    make_connection_info,
    pod_queue,
    working_dir_for,
)
from .service import (
    KernelsConfig,
    KernelService,
    release_standalone,
    server_service,
    standalone_service,
)
from .start_error import KernelStartError
from .status import (
    KernelExit,
    PodState,
    backoff_seconds,
    kernel_exit,
    old_instance_ended,
    restart_count,
    session_notebook,
    startup_state,
)

if TYPE_CHECKING:
    from jupyter_client.manager import KernelManager

#: How long an adopted (reattached) kernel may take to answer its heartbeat.
REATTACH_HEARTBEAT_SECONDS = 10.0

#: What the kernel status and the log say when the image's ipykernel can't use CurveZMQ.
NO_CURVE_MESSAGE = (
    "the kernel runs without transport encryption: the image's ipykernel does not use the "
    "CurveZMQ keys (ipykernel 7.4 or newer does); anyone who can reach the pod's kernel ports "
    "can read its output. Use an image with ipykernel >= 7.4, or restrict the ports with a "
    "NetworkPolicy"
)


def _as_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def pod_name_for(kernel_id: str) -> str:
    """kernel-<first 8 of the kernel id>-<random>: unique per pod of a kernel."""
    short = "".join(c for c in kernel_id.lower() if c.isalnum())[:8] or "x"
    return f"kernel-{short}-{random_suffix(5)}"


class K8sPodProvisioner(KernelProvisionerBase):
    """Starts the kernel in a pod built from a jupyter-k8s profile."""

    profile = Unicode(
        "",
        config=True,
        help="""Name of the jupyter-k8s profile the kernel pod gets (CPU, memory, GPUs,
        placement, image). Empty: the default profile.""",
    )

    profile_spec = Dict(
        None,
        allow_none=True,
        config=True,
        help="""The profile's settings, embedded by `jupyter k8s kernelspec install` for clients
        that run without a Jupyter server with jupyter-k8s (papermill, nbclient). A server
        with jupyter-k8s uses its own profiles instead.""",
    )

    namespace = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Namespace of the kernel pods of a client without the server extension.
        Default: the kubeconfig context's.""",
    )

    kubeconfig = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Kubeconfig of a client without the server extension (default: $KUBECONFIG).",
    )

    context = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Kubeconfig context of a client without the server extension.",
    )

    owner = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Whose kernel pods these are (the owner label), for a client without the server
        extension. Default: the login name.""",
    )

    image = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Image of the kernel pod, over the profile's.",
    )

    start_timeout = Float(
        None,
        allow_none=True,
        config=True,
        help="""Seconds a kernel pod may take to start (scheduling, image pull, GPU node
        scale-up) before the start fails and the pod is deleted. Default: the server's
        c.JupyterK8s.kernel_start_timeout, else 600.""",
    )

    orphan_seconds = Float(
        None,
        allow_none=True,
        config=True,
        help="""For a client without the server extension: a kernel pod whose client stopped
        renewing its heartbeat this many seconds ago was abandoned (its client killed) and
        may be deleted by the next jupyter-k8s of the owner. This client renews the heartbeat
        of its own pod from its creation (also while it is Pending) every 30 s, or a quarter
        of this when that is shorter. Default: the server's c.JupyterK8s.kernel_orphan_seconds
        (written by `jupyter k8s kernelspec install`), else 300.""",
    )

    # -- state --------------------------------------------------------------------------------

    pod_name: str | None = None
    _service: KernelService | None = None
    _profile: Profile | None = None
    _launched = False  # a kernel instance runs (has_process)
    _restarts = 0  # the container restartCount of the instance we launched
    _notebook: str | None = None  # the session's notebook, for the REST API's statuses
    _curve_policy = "disabled"  # "auto" or "required": keys made (see _setup_encryption)
    _restart_info: KernelConnectionInfo | None = None  # after a restart in place
    _recreate = False  # the next launch makes a new pod
    _exit: KernelExit | None = None
    _held = False  # counted in service.users
    _adopt_pod: dict[str, Any] | None = None
    _queue: QueueInfo | None = None  # where the new pod stands in its Kueue queue, if queued

    @property
    def has_process(self) -> bool:
        return self._launched

    @property
    def service(self) -> KernelService:
        if self._service is None:
            raise RuntimeError("the k8s-pod provisioner was not started")
        return self._service

    @property
    def _manager(self) -> KernelManager:
        """The kernel manager this provisioner works for (its traitlets parent)."""
        if self.parent is None:
            raise RuntimeError("the k8s-pod provisioner has no kernel manager")
        return self.parent

    @property
    def _resolved_profile(self) -> Profile:
        """The kernel's profile, resolved by pre_launch."""
        if self._profile is None:
            raise RuntimeError("the k8s-pod provisioner was not started")
        return self._profile

    # -- which service, which profile ----------------------------------------------------------

    def _get_service(self) -> KernelService:
        svc = server_service()
        if svc is not None:
            return svc
        owner = self.owner or getpass.getuser()
        orphan = self.orphan_seconds if self.orphan_seconds and self.orphan_seconds > 0 else None
        key = (self.kubeconfig, self.context, self.namespace, owner, orphan)

        def make() -> KernelService:
            from ..k8s.cluster import ClusterService

            cluster = ClusterService(self.kubeconfig, self.context, self.namespace)
            config = KernelsConfig(namespace=self.namespace, owner=owner, client="standalone")
            if orphan:
                config.server_stale_seconds = orphan
            return KernelService(
                cluster.get_client,
                None,
                config,
                logger=self.log,
                on_stop=cluster.close,
            )

        return standalone_service(key, make)

    def _resolve_profile(self, svc: KernelService) -> Profile:
        if svc.profiles is not None:
            try:
                return svc.profiles.get(self.profile or None)
            except ValidationProblem as exc:
                raise KernelStartError(
                    f"kernelspec {self._kernel_name()!r}: {exc}", "UnknownProfile"
                ) from None
        if not self.profile_spec:
            raise KernelStartError(
                f"kernelspec {self._kernel_name()!r} names profile {self.profile!r} but carries "
                "no profile settings, and no Jupyter server with jupyter-k8s runs it: install it "
                f"with `jupyter k8s kernelspec install --profile {self.profile or 'NAME'}`",
                "UnknownProfile",
            )
        try:
            profiles = load_profiles([dict(self.profile_spec)], None)
        except ProfileError as exc:
            raise KernelStartError(
                f"kernelspec {self._kernel_name()!r}: {exc}", "Invalid"
            ) from None
        return profiles.default

    def _kernel_name(self) -> str:
        km = self.parent
        return getattr(km, "kernel_name", None) or getattr(self.kernel_spec, "name", "") or "?"

    def _timeout(self) -> float:
        if self.start_timeout is not None:
            return self.start_timeout
        return self.service.config.start_timeout

    # -- status -------------------------------------------------------------------------------

    def _show(self, state: PodState) -> None:
        """Keep the state for the REST API; log it when it changed."""
        svc = self._service
        if svc is None or self.kernel_id is None:
            return
        before = dict(svc.statuses.get(self.kernel_id) or {})
        fields = {
            "kernel_name": self._kernel_name(),
            "profile": self._profile.name if self._profile else self.profile,
            "pod": self.pod_name,
            "phase": state.phase,
            "reason": state.reason,
            "message": state.message,
            "node": state.node,
            "ip": state.ip,
            "restarts": self._restarts,
            "notebook": self._notebook,
            "queue": self._queue.model_dump(mode="json") if self._queue else None,
        }
        svc.set_status(self.kernel_id, **fields)
        if (before.get("phase"), before.get("reason"), before.get("message")) != (
            state.phase,
            state.reason,
            state.message,
        ):
            log = self.log.warning if state.failed else self.log.info
            log("jupyter-k8s: kernel %s (pod %s): %s", self.kernel_id, self.pod_name, state.text())

    # -- start --------------------------------------------------------------------------------

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        svc = self._service = self._get_service()
        if not self._held:
            svc.users += 1
            self._held = True
        try:
            await svc.start()
        except KernelStartError:
            raise
        except Exception as exc:  # Unreachable, Forbidden: say it at the start
            await self._release()
            raise KernelStartError(
                f"cannot start a kernel on Kubernetes: {exc}",
                getattr(exc, "reason", "") or "Unreachable",
            ) from exc
        try:
            self._profile = self._resolve_profile(svc)
        except KernelStartError:
            await self._release()
            raise
        if svc.config.client == "standalone" and not svc.collected_stale:
            # A killed papermill left its pod (and maybe a GPU): this client cleans up.
            svc.collected_stale = True
            with contextlib.suppress(Exception):
                await svc.collect_stale_standalone()
        svc.identify(self)  # this server's id, written on its pods (see identity.py)
        if self.kernel_id in svc.adoptable:
            self._adopt_pod = svc.adoptable.pop(self.kernel_id)
        self._notebook = session_notebook(kwargs.get("env"), svc.config.root_dir)
        self._setup_encryption(kwargs)
        extra = kwargs.pop("extra_arguments", [])
        cmd = [*self.kernel_spec.argv, *extra]
        return await super().pre_launch(cmd=cmd, **kwargs)

    def _setup_encryption(self, kwargs: dict[str, Any]) -> None:
        """CurveZMQ keys for the kernel, by default (see the module's docstring).

        "auto" (the default for kernelspecs that declare Curve support, whatever jupyter's
        policy): keys are made, and a kernel whose image can't use them falls back to no
        encryption with a warning. "required" (the kernel manager's policy): the start fails
        instead. No keys when the kernelspec declares no support (`kernel_curve = False`) or
        libzmq has no CURVE.
        """
        km = self.parent
        self._curve_policy = "disabled"
        if km is None or not hasattr(km, "curve_publickey"):
            return
        policy = kwargs.pop("transport_encryption", getattr(km, "transport_encryption", "disabled"))
        if hasattr(km, "_transport_encryption_policy"):
            policy = km._transport_encryption_policy(policy)
        declared = bool(
            getattr(km, "_kernel_supports_curve_encryption", lambda: False)()
            or "curve"
            in (
                (getattr(self.kernel_spec, "metadata", None) or {}).get("supported_encryption")
                or []
            )
        )
        if policy == "required":
            self._curve_policy = "required"
        elif declared and zmq.has("curve"):
            self._curve_policy = "auto"
        else:
            return
        if km.curve_publickey is None:
            km.curve_publickey, km.curve_secretkey = zmq.curve_keypair()

    async def _image(self) -> str:
        profile = self._resolved_profile
        image = self.image or profile.image or await self.service.default_image()
        if not image:
            raise KernelStartError(
                f"no image: profile {profile.name!r} names none, and neither the server "
                f"nor the cluster gives a default; {NO_IMAGE_HINT}",
                "NoImage",
            )
        return image

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        svc = self.service
        assert self.kernel_id is not None
        deadline = time.monotonic() + self._timeout()
        self._exit = None
        try:
            if self._adopt_pod is not None:
                info = await self._adopt(self._adopt_pod)
            elif self.pod_name and not self._recreate and await self._restart_in_place(deadline):
                info = self._restart_info or self._connection(self._ip())
                self._restart_info = None
            else:
                info = await self._new_pod(
                    cmd, kwargs.get("env") or {}, deadline, kwargs.get("cwd")
                )
        except BaseException as exc:
            self._adopt_pod = None
            if self.pod_name:
                name, self.pod_name = self.pod_name, None
                with contextlib.suppress(Exception):
                    await asyncio.shield(svc.delete(name, grace=0))
            if not isinstance(exc, KernelStartError | asyncio.CancelledError):
                self.log.exception("jupyter-k8s: kernel %s failed to start", self.kernel_id)
            reason = getattr(exc, "reason", type(exc).__name__)
            svc.set_status(self.kernel_id, phase="Failed", reason=reason, message=str(exc))
            await self._release()
            self._forget_failed_start()
            raise
        self._adopt_pod = None
        self._launched = True
        self._recreate = False
        self.connection_info = info
        return info

    def _shared_files(self, cwd: str | None) -> dict[str, Any]:
        """The shared volume and the notebook's folder in it, when the server shares its files."""
        conf = self.service.config
        if not conf.shared_volume or not conf.shared_mount_path:
            return {}
        return {
            "shared_volume": conf.shared_volume,
            "shared_mount_path": conf.shared_mount_path,
            "working_dir": working_dir_for(cwd, conf.root_dir, conf.shared_mount_path),
        }

    def _forget_failed_start(self) -> None:
        """Work around jupyter_client's bookkeeping of a kernel whose start failed.

        MultiKernelManager keeps such a kernel in `_pending_kernels` for good (its
        `_add_kernel_when_ready` only logs the error), so `shutdown_all` later asks
        jupyter_server to shut down a kernel it does not know: the 404 it raises aborts the
        server's stop, and the server no longer exits on SIGTERM or Ctrl-C. Remote starts fail
        more often than local ones (a GPU that never frees up, a bad image), so the entry is
        dropped once the pending task has finished.
        """
        kernel_id = self.kernel_id
        multi = getattr(self.parent, "parent", None)
        pending = getattr(multi, "_pending_kernels", None)
        if not isinstance(pending, dict) or kernel_id not in pending:
            return
        task = pending[kernel_id]

        def forget(_: object = None) -> None:
            if pending.get(kernel_id) is task and kernel_id not in getattr(multi, "_kernels", {}):
                pending.pop(kernel_id, None)

        if isinstance(task, asyncio.Future):
            task.add_done_callback(forget)
        else:
            forget()

    def _ip(self) -> str:
        ip = pod_ip(self.service.pod(self.pod_name or ""))
        if not ip:
            raise KernelStartError(f"kernel pod {self.pod_name} has no IP", "NoPodIP")
        return ip

    def _connection(self, ip: str, info: dict[str, Any] | None = None) -> KernelConnectionInfo:
        """What the kernel manager connects to: the pod IP and the server's session key."""
        if info is None:
            km = self._manager
            info = make_connection_info(
                self.service.config.ports,
                km.session.key,
                signature_scheme=km.session.signature_scheme,
                kernel_name=self._kernel_name(),
                curve_publickey=getattr(km, "curve_publickey", None),
                curve_secretkey=getattr(km, "curve_secretkey", None),
            )
        out: dict[str, Any] = {**info, "ip": ip}
        out["key"] = out["key"].encode() if isinstance(out["key"], str) else out["key"]
        # The key as bytes, as KernelManager.get_connection_info gives it too (the TypedDict
        # says str; jupyter_client takes both).
        return cast(KernelConnectionInfo, out)

    async def _new_pod(
        self, cmd: list[str], env: dict[str, str], deadline: float, cwd: str | None = None
    ) -> KernelConnectionInfo:
        svc = self.service
        km = self._manager
        profile = self._resolved_profile
        if self.pod_name:  # a restart that can't reuse the old pod
            old, self.pod_name = self.pod_name, None
            await svc.delete(old, grace=0)
        self._queue = None
        if profile.queue:
            # Before any pod: the errors a job submit gives (no Kueue, no such LocalQueue,
            # no such priority class), not a pod gated forever.
            self._show(PodState("Creating", None, f"checking Kueue queue {profile.queue}"))
            try:
                await svc.queues.check(profile)
            except KernelStartProblem as exc:
                raise KernelStartError.from_problem(exc) from exc
        spec_env = getattr(self.kernel_spec, "env", None) or {}
        kernel_env = {k: v for k, v in env.items() if k in spec_env or k in PASSED_ENV}
        name = pod_name_for(self.kernel_id or "")
        build = KernelPodBuild(
            name=name,
            namespace=svc.namespace,
            kernel_id=self.kernel_id or "",
            kernel_name=self._kernel_name(),
            owner=svc.config.owner,
            profile=profile,
            image=await self._image(),
            argv=tuple(cmd),
            env=kernel_env,
            ports=svc.config.ports,
            client=svc.config.client,
            server_id=svc.identify(self),
            run_as_user=svc.config.run_as_user,
            queue=profile.queue,
            priority_class=profile.priority_class if profile.queue else None,
            **self._shared_files(cwd),
        )
        connection = make_connection_info(
            build.ports,
            km.session.key,
            signature_scheme=km.session.signature_scheme,
            kernel_name=build.kernel_name,
            curve_publickey=getattr(km, "curve_publickey", None),
            curve_secretkey=getattr(km, "curve_secretkey", None),
        )
        self.pod_name = name
        self._show(PodState("Creating", None, f"creating pod {name} ({profile.name})"))
        try:
            created = await svc.create(build, connection)
        except KernelStartProblem as exc:  # as the HTTP error jupyter_server passes on
            raise KernelStartError.from_problem(exc) from exc
        self._restarts = 0
        if not build.queue:
            state = await self._wait_running(0, deadline)
        else:
            svc.queues.track(created)
            try:
                state = await self._wait_running(0, deadline)
            finally:
                svc.queues.untrack(name)
        info = self._connection(state.ip or self._ip(), connection)
        info = await self._wait_heartbeat(info, 0, deadline)
        self._show(state)
        return info

    async def _wait_running(self, launched_restarts: int, deadline: float) -> PodState:
        """Until the kernel's container instance runs; KernelStartError when it won't."""
        svc = self.service
        assert self.pod_name is not None
        seen = False
        while True:
            pod = svc.pod(self.pod_name)
            queued = False
            if pod is None and not seen:
                state = PodState("Pending", "Creating", "waiting for the pod to show up")
            else:
                seen = True
                queue = svc.queues.info(pod) if pod_queue(pod)[0] else None
                if queue is not None:
                    self._queue = queue
                queued = kueue_gated(pod)
                state = startup_state(pod, svc.pod_events(pod), launched_restarts, queue)
            self._show(state)
            if state.running:
                return state
            if state.failed:
                raise KernelStartError(
                    f"kernel pod {self.pod_name} failed to start: {state.reason}: {state.message}",
                    state.reason or "Failed",
                )
            left = deadline - time.monotonic()
            if left <= 0:
                if queued:  # time in the queue counts: say where it still was
                    raise KernelStartError(
                        f"kernel pod {self.pod_name} did not start within {self._timeout():g} s: "
                        f"it was still waiting in its Kueue queue ({state.message}); the pod "
                        "was deleted",
                        "StartTimeout",
                    )
                raise KernelStartError(
                    f"kernel pod {self.pod_name} did not start within {self._timeout():g} s "
                    f"({state.text()}); the pod was deleted",
                    "StartTimeout",
                )
            if queued:  # its place in the queue changes without the pod changing
                await svc.changed(left, queues=True)
            else:
                await svc.changed(left)

    async def _wait_heartbeat(
        self, info: KernelConnectionInfo, launched_restarts: int, deadline: float
    ) -> KernelConnectionInfo:
        """Until the kernel answers on its heartbeat port (it is then listening on all five),
        or its container ends (a kernel that fails at start: its exit code and log tail).

        With Curve keys, a Curve socket and a plain one ask at once: the one that answers
        tells whether the image's ipykernel uses the keys (a Curve server refuses a plain
        client and the other way round). Returns the connection info to use: without the keys
        when the kernel answered in plain text (then dropped from the kernel manager too).
        """
        svc = self.service
        curve = bool(info.get("curve_publickey") and info.get("curve_secretkey"))
        socks: dict[str, zmq.asyncio.Socket] = {"plain": self._hb_socket(info, curve=False)}
        if curve:
            socks["curve"] = self._hb_socket(info, curve=True)
        replies: dict[asyncio.Future, str] = {}
        try:
            for mode, sock in socks.items():
                await sock.send(b"jupyter-k8s")
                replies[asyncio.ensure_future(sock.recv())] = mode
            answered: str | None = None
            while answered is None:
                done = [f for f in replies if f.done() and not f.cancelled()]
                if done:
                    # Curve first, should both ever answer.
                    answered = "curve" if any(replies[f] == "curve" for f in done) else "plain"
                    break
                ended = kernel_exit(svc.pod(self.pod_name or ""), launched_restarts)
                if ended is not None:
                    raise KernelStartError(
                        f"the kernel in pod {self.pod_name} exited while starting: "
                        f"{ended.reason}: {ended.message}",
                        ended.reason,
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise KernelStartError(
                        f"the kernel in pod {self.pod_name} runs but did not answer on its "
                        f"heartbeat port within {self._timeout():g} s",
                        "StartTimeout",
                    )
                change = asyncio.ensure_future(svc.changed(left))
                await asyncio.wait({*replies, change}, return_when="FIRST_COMPLETED")
                change.cancel()
        finally:
            for f in replies:
                if not f.done():
                    f.cancel()
            for sock in socks.values():
                sock.close(linger=0)
        return self._encryption_answer(info, curve, answered)

    def _hb_socket(self, info: KernelConnectionInfo, *, curve: bool) -> zmq.asyncio.Socket:
        sock = zmq.asyncio.Context.instance().socket(zmq.REQ)
        sock.linger = 0
        if curve:
            pub, sec = _as_bytes(info["curve_publickey"]), _as_bytes(info["curve_secretkey"])
            # As jupyter_client's own sockets do: the kernel's key pair, its public key as
            # the server key (the secret key authenticates the server side).
            sock.curve_secretkey = sec
            sock.curve_publickey = pub
            sock.curve_serverkey = pub
        sock.connect(f"tcp://{info['ip']}:{info['hb_port']}")
        return sock

    def _encryption_answer(
        self, info: KernelConnectionInfo, curve: bool, answered: str
    ) -> KernelConnectionInfo:
        """Record how the kernel talks (status "encryption": "curve" or "none"); drop the keys
        when it answered in plain text, or fail when the policy requires encryption."""
        svc = self.service
        if answered == "curve":
            if self.kernel_id:
                svc.set_status(self.kernel_id, encryption="curve", encryption_message=None)
            return info
        message = NO_CURVE_MESSAGE if curve else "transport encryption is off for this kernel"
        if curve and self._curve_policy == "required":
            raise KernelStartError(
                f"kernel pod {self.pod_name}: transport encryption is required "
                "(c.MappingKernelManager.transport_encryption), but the image's ipykernel "
                "does not use CurveZMQ (ipykernel 7.4 or newer does)",
                "EncryptionUnsupported",
            )
        if curve:
            self.log.warning(
                "jupyter-k8s: kernel %s (pod %s): %s", self.kernel_id, self.pod_name, message
            )
            km = self.parent
            if km is not None and hasattr(km, "curve_publickey"):
                km.curve_publickey = None
                km.curve_secretkey = None
            info = info.copy()  # the caller's stays as it is
            info.pop("curve_publickey", None)
            info.pop("curve_secretkey", None)
        if self.kernel_id:
            svc.set_status(self.kernel_id, encryption="none", encryption_message=message)
        return info

    # -- restart in place ---------------------------------------------------------------------

    async def _restart_in_place(self, deadline: float) -> bool:
        """Wait for the kubelet to start the kernel again in its pod; False: make a new pod."""
        svc = self.service
        pod = svc.pod(self.pod_name or "")
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return False
        if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return False
        expected = max(self._restarts + 1, restart_count(pod))
        limit = min(deadline, time.monotonic() + svc.config.restart_timeout)
        # A real kubelet shows its CrashLoopBackOff message only once the back-off is nearly
        # over (10 s after the old instance ended, measured on the real node): the message
        # can't be awaited, so the wait itself is bounded by restart_max_backoff.
        ended_at: float | None = None
        while True:
            pod = svc.pod(self.pod_name or "")
            state = startup_state(pod, svc.pod_events(pod), expected)
            self._show(state)
            if state.running:
                break
            if state.failed:
                self.log.warning(
                    "jupyter-k8s: kernel %s did not restart in its pod (%s); making a new pod",
                    self.kernel_id,
                    state.text(),
                )
                return False
            waiting = ((pod or {}).get("status") or {}).get("containerStatuses") or []
            backoff = (
                max(
                    (backoff_seconds((s.get("state") or {}).get("waiting", {}).get("message")) or 0)
                    for s in waiting
                )
                if waiting
                else 0
            )
            if backoff > svc.config.restart_max_backoff:
                self.log.info(
                    "jupyter-k8s: the kubelet would restart kernel %s in %.0f s; making a new pod",
                    self.kernel_id,
                    backoff,
                )
                return False
            now = time.monotonic()
            if ended_at is None and old_instance_ended(pod, expected):
                ended_at = now
            if ended_at is not None and now - ended_at > svc.config.restart_max_backoff:
                self.log.info(
                    "jupyter-k8s: the kubelet did not restart kernel %s within %g s; making a "
                    "new pod",
                    self.kernel_id,
                    svc.config.restart_max_backoff,
                )
                return False
            left = limit - now
            if left <= 0:
                return False
            if ended_at is not None:  # wake up when the bound passes, change or not
                left = min(left, ended_at + svc.config.restart_max_backoff - now + 0.01)
            await svc.changed(left)
        self._restarts = expected
        self._show(state)  # the status's `restarts` counts this instance from now on
        info = self._connection(state.ip or self._ip())
        self._restart_info = await self._wait_heartbeat(info, expected, deadline)
        return True

    # -- reattach -----------------------------------------------------------------------------

    async def _adopt(self, pod: dict[str, Any]) -> KernelConnectionInfo:
        """Take over a running kernel pod left by a previous server (see reattach.py)."""
        svc = self.service
        self.pod_name = pod["metadata"]["name"]
        current = svc.pod(self.pod_name) or pod
        self._restarts = restart_count(current)
        state = startup_state(current, [], self._restarts)
        if not state.running:
            raise KernelStartError(
                f"kernel pod {self.pod_name} can't be reattached: {state.text()}", "NotRunning"
            )
        if self._curve_policy != "required":
            self._curve_policy = "auto"  # the pod's own keys decide (see _wait_heartbeat)
        try:
            stored = await svc.read_connection(current)  # the user's, owned by this pod
        except ValueError as exc:
            raise KernelStartError(
                f"kernel pod {self.pod_name} can't be reattached: {exc}", "NotMine"
            ) from None
        info = self._connection(state.ip or self._ip(), stored)
        km = self.parent
        if km is not None:
            km.load_connection_info(info)  # the key of the pod, not a new one
            if "curve_publickey" not in info and hasattr(km, "curve_publickey"):
                km.curve_publickey = km.curve_secretkey = None
        deadline = time.monotonic() + REATTACH_HEARTBEAT_SECONDS
        info = await self._wait_heartbeat(info, self._restarts, deadline)
        self._show(PodState("Running", "Reattached", state.message, state.ip, state.node))
        return info

    # -- running ------------------------------------------------------------------------------

    async def poll(self) -> int | None:
        if not self._launched or self._service is None:
            return 0 if not self._launched else None
        ended = kernel_exit(self._service.pod(self.pod_name or ""), self._restarts)
        if ended is None:
            return None
        if self._exit is None:
            self._exit = ended
            self._note_exit(ended)
        return ended.code

    def _note_exit(self, ended: KernelExit) -> None:
        svc = self._service
        expected = svc is not None and (svc.statuses.get(self.kernel_id or "") or {}).get(
            "phase"
        ) in ("Stopping", "Restarting")
        if not expected:
            self.log.warning(
                "jupyter-k8s: kernel %s (pod %s) ended: %s: %s",
                self.kernel_id,
                self.pod_name,
                ended.reason,
                ended.message,
            )
            km = self.parent
            if km is not None and ended.reason not in ("Exited",):
                with contextlib.suppress(Exception):
                    km.reason = f"{ended.reason}: {ended.message}"
        if svc is not None and self.kernel_id:
            svc.set_status(
                self.kernel_id,
                last_exit={"code": ended.code, "reason": ended.reason, "message": ended.message},
            )

    async def wait(self) -> int | None:
        while (code := await self.poll()) is None:
            await self.service.changed(1.0)
        self._launched = False
        return code

    async def send_signal(self, signum: int) -> None:
        """Signals can't reach a process in a pod without exec rights: interrupts are
        messages (the kernelspec says so); SIGTERM/SIGKILL end the pod."""
        import signal

        if signum == signal.SIGKILL:
            await self.kill()
        elif signum == signal.SIGTERM:
            await self.terminate()
        elif signum != 0:
            self.log.debug("jupyter-k8s: signal %d to a pod kernel ignored", signum)

    async def shutdown_requested(self, restart: bool = False) -> None:
        if self._service is not None and self.kernel_id:
            self._service.set_status(
                self.kernel_id,
                phase="Restarting" if restart else "Stopping",
                reason=None,
                message="restart requested" if restart else "shutdown requested",
            )

    async def terminate(self, restart: bool = False) -> None:
        await self._stop_pod(GRACE_SECONDS)

    async def kill(self, restart: bool = False) -> None:
        await self._stop_pod(0)

    async def _stop_pod(self, grace: int) -> None:
        """The kernel ignored its shutdown request: only deleting its pod stops it.

        (jupyter_client calls kill/terminate without saying whether a restart follows.) A
        kernel that already exited is left alone: the kubelet starts it again in its pod for
        a restart, and cleanup deletes the pod for a shutdown.
        """
        if self.pod_name is None or await self.poll() is not None:
            return
        self._recreate = True
        await self.service.delete(self.pod_name, grace=grace)

    async def cleanup(self, restart: bool = False) -> None:
        if restart:
            return
        svc = self._service
        if svc is None:
            return
        if self.pod_name:
            name, self.pod_name = self.pod_name, None
            await svc.delete(name, grace=0)
        self._launched = False
        if self.kernel_id:
            svc.drop_status(self.kernel_id)
        await self._release()

    async def detach(self) -> None:
        """Let go of the kernel without stopping it (server stop with reattach on)."""
        self._launched = False
        self.pod_name = None
        await self._release()

    async def _release(self) -> None:
        svc = self._service
        if svc is not None and self._held:
            self._held = False
            svc.users -= 1
            await release_standalone(svc)

    # -- persistence --------------------------------------------------------------------------

    async def get_provisioner_info(self) -> dict[str, Any]:
        info = await super().get_provisioner_info()
        info.update(
            pod_name=self.pod_name,
            namespace=self._service.config.namespace if self._service else self.namespace,
            restarts=self._restarts,
        )
        return info

    async def load_provisioner_info(self, provisioner_info: dict) -> None:
        await super().load_provisioner_info(provisioner_info)
        self.pod_name = provisioner_info.get("pod_name")
        self._restarts = int(provisioner_info.get("restarts") or 0)
        self._launched = self.pod_name is not None

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return recommended

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        return recommended
