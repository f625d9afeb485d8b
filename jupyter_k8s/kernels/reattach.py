"""Kernels that outlive their Jupyter server: detach at stop, reattach (or clean up) at start.

jupyter_server keeps its kernels in memory only, so a restarted server knows none. The
cluster does: every kernel pod carries its kernel id (label), kernelspec name and owner
(annotations), and its Secret holds the connection file with the HMAC key.

* Server stop, reattach on (`c.JupyterK8s.kernel_reattach = True`, the default): the
  extension stops before jupyter_server shuts kernels down; it takes its pod kernels out of
  the kernel manager (restarter, activity watcher, control socket closed, connection file
  removed) without a shutdown request, so the kernels keep running, with their state.
* Server start, reattach on: each running kernel pod of this user made by a Jupyter server
  is started again through the kernel manager under its old kernel id and kernelspec; the
  provisioner finds the pod in `KernelService.adoptable`, reads the key from its Secret and
  connects instead of making a pod. The kernel then is an ordinary kernel of the new server
  (GET /api/kernels, websockets, restart, culling); clients reconnect with the same id.
  Pods that don't run (still starting, failed) and pods whose kernelspec no longer exists
  are deleted.
* Reattach off: the server's kernels are shut down with it, and at start every kernel pod a
  previous run of this server left behind (killed server, crashed machine) is deleted.

Which pods: only the user's (`is_mine`: owner label *and* exact user name), and of those
only the pods this server holds (`jupyter-k8s.io/server-id` is its id, which survives its
restart, see identity.py) or orphans: pods whose holder stopped renewing their heartbeat
more than `server_stale_seconds` ago (that server was stopped or killed and did not come
back). Another running server of the same owner (a second JupyterLab of the same login)
renews the heartbeat of its pods, so its kernels are never adopted nor deleted here. Each
pod is claimed first (`KernelService.claim`, conditional on the pod's resourceVersion), so
that of two servers starting at once only one adopts or deletes an orphan.

Pods made by standalone clients (papermill, nbclient: annotation client=standalone) are
not reattached: their client may still run. It renews a heartbeat annotation on its pod
while it does; a pod whose heartbeat is older than `standalone_stale_seconds` lost its
client (killed with SIGKILL, a crashed machine) and is deleted by the next jupyter-k8s of
that user to look: a Jupyter server (at start, then every minute) or another standalone
client (when it starts); see `KernelService.collect_stale_standalone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..k8s.client import Obj
from .objects import client_of, kernel_id_of, kernel_name_of, server_id_of
from .provisioner import K8sPodProvisioner
from .service import KernelService
from .status import MINE, OTHERS, holder_state, restart_count, startup_state

log = logging.getLogger("jupyter_k8s.kernels")


def _meta(pod: Obj) -> tuple[str | None, str | None, str | None]:
    """Kernel id, kernelspec name and client kind, each validated (None when not valid)."""
    return kernel_id_of(pod), kernel_name_of(pod), client_of(pod)


def _running(pod: Obj) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return startup_state(pod, [], restart_count(pod)).running


def _spec_exists(kernel_spec_manager: Any, name: str) -> bool:
    try:
        kernel_spec_manager.get_kernel_spec(name)
    except Exception:  # NoSuchKernel, or a broken spec
        return False
    return True


async def reattach_or_clean(
    service: KernelService,
    kernel_manager: Any,
    *,
    reattach: bool,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> dict[str, list[str]]:
    """At server start: reattach running kernel pods, delete the others. Returns what was done
    ({"reattached": [kernel ids], "deleted": [pod names], "failed": [kernel ids]})."""
    logger = logger or log
    server_id = service.identify(kernel_manager)
    await service.start()
    grace = service.config.server_stale_seconds
    known = set(kernel_manager.list_kernel_ids())
    done: dict[str, list[str]] = {"reattached": [], "deleted": [], "failed": [], "others": []}
    starts: dict[str, asyncio.Task] = {}
    for pod in service.kernel_pods():  # the user's only (is_mine)
        kernel_id, kernel_name, client = _meta(pod)
        name = pod["metadata"]["name"]
        if client != "server" or (kernel_id and kernel_id in known):
            continue
        if kernel_id in service.adoptable:
            continue
        state = holder_state(pod, server_id, datetime.now(UTC), grace)
        if state == OTHERS:
            logger.debug(
                "jupyter-k8s: kernel pod %s belongs to another running server (%s)",
                name,
                server_id_of(pod),
            )
            done["others"].append(name)
            continue
        claimed = await service.claim(pod, grace)
        if claimed is None:  # another server's after all (its heartbeat, its claim), or gone
            done["others"].append(name)
            continue
        whose = "this server's previous run" if state == MINE else "an orphan"
        if (
            reattach
            and kernel_id
            and kernel_name
            and _running(claimed)
            and _spec_exists(kernel_manager.kernel_spec_manager, kernel_name)
        ):
            service.adoptable[kernel_id] = claimed
            logger.info("jupyter-k8s: reattaching kernel %s (pod %s, %s)", kernel_id, name, whose)
            starts[kernel_id] = asyncio.ensure_future(
                kernel_manager.start_kernel(kernel_id=kernel_id, kernel_name=kernel_name)
            )
        else:
            why = "reattach is off" if not reattach else "it does not run or its kernelspec is gone"
            logger.info("jupyter-k8s: deleting kernel pod %s of %s (%s)", name, whose, why)
            await service.delete(name, grace=0, uid=claimed["metadata"].get("uid"))
            done["deleted"].append(name)
    for kernel_id, task in starts.items():
        try:
            await task
        except Exception as exc:  # noqa: BLE001 - one kernel must not stop the others
            service.adoptable.pop(kernel_id, None)
            logger.warning("jupyter-k8s: could not reattach kernel %s: %s", kernel_id, exc)
            done["failed"].append(kernel_id)
        else:
            logger.info("jupyter-k8s: reattached kernel %s", kernel_id)
            done["reattached"].append(kernel_id)
    return done


def _pod_kernels(
    kernel_manager: Any, *, launched: bool
) -> Iterator[tuple[str, Any, K8sPodProvisioner]]:
    """The kernel manager's kernels in pods: (id, kernel manager, provisioner); with
    `launched`, only those whose pod kernel runs. Kernels gone meanwhile are skipped."""
    for kernel_id in list(kernel_manager.list_kernel_ids()):
        try:
            km = kernel_manager.get_kernel(kernel_id)
        except KeyError:
            continue
        prov = getattr(km, "provisioner", None)
        if isinstance(prov, K8sPodProvisioner) and (prov.has_process or not launched):
            yield kernel_id, km, prov


async def detach_all(kernel_manager: Any, logger: Any = None) -> list[str]:
    """At server stop: let go of every pod kernel without stopping it; returns their ids."""
    logger = logger or log
    detached = []
    for kernel_id, km, prov in _pod_kernels(kernel_manager, launched=True):
        with contextlib.suppress(Exception):
            km.stop_restarter()
        with contextlib.suppress(Exception):
            kernel_manager.stop_watching_activity(kernel_id)
        with contextlib.suppress(Exception):
            km._close_control_socket()
        with contextlib.suppress(Exception):
            km.cleanup_connection_file()
        await prov.detach()
        kernel_manager.remove_kernel(kernel_id)
        with contextlib.suppress(Exception):
            kernel_manager._kernel_connections.pop(kernel_id, None)
            kernel_manager._kernel_ports.pop(kernel_id, None)
        detached.append(kernel_id)
        logger.info("jupyter-k8s: kernel %s keeps running in its pod (reattach on)", kernel_id)
    return detached


async def shutdown_all(kernel_manager: Any, logger: Any = None) -> list[str]:
    """At server stop with reattach off: shut down the pod kernels while the cluster client
    still works (jupyter_server would do it after the extension stopped)."""
    ids = [kernel_id for kernel_id, _, _ in _pod_kernels(kernel_manager, launched=False)]
    results = await asyncio.gather(
        *(kernel_manager.shutdown_kernel(k) for k in ids), return_exceptions=True
    )
    for kernel_id, result in zip(ids, results, strict=True):
        if isinstance(result, BaseException):
            (logger or log).warning("jupyter-k8s: shutting down kernel %s: %s", kernel_id, result)
    return ids


async def cull_idle_gpu_kernels(
    kernel_manager: Any, timeout: float, logger: Any = None
) -> list[str]:
    """Shut down GPU kernels idle for more than `timeout` seconds (the kernel manager's
    cull_busy / cull_connected settings apply as to its own culler). Only this server's
    kernels: those of its kernel manager, nothing listed from the cluster."""
    culled = []
    now = datetime.now(UTC)
    for kernel_id, km, prov in _pod_kernels(kernel_manager, launched=True):
        if not (prov._profile and prov._profile.gpus):
            continue
        last = getattr(km, "last_activity", None)
        if last is None:
            continue
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        idle = (now - last).total_seconds()
        if getattr(km, "execution_state", "") == "busy" and not kernel_manager.cull_busy:
            continue
        connections = kernel_manager._kernel_connections.get(kernel_id, 0)
        if connections and not kernel_manager.cull_connected:
            continue
        if idle > timeout:
            (logger or log).warning(
                "jupyter-k8s: culling GPU kernel %s, idle for %.0f s (gpu_kernel_idle_timeout %g)",
                kernel_id,
                idle,
                timeout,
            )
            await kernel_manager.shutdown_kernel(kernel_id)
            culled.append(kernel_id)
    return culled
