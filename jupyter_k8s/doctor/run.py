"""`run_doctor`: the calls to the cluster, concurrent where they are independent, and the
checks in checklist order. Never raises for cluster trouble: it is a finding."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from ..k8s.client import KubeClient, KubeError, Obj, resource_path
from ..k8s.cluster import whoami
from ..k8s.cluster_defaults import read_advertised_image
from .api import api_findings
from .checks import Check, DoctorReport
from .config import DoctorSettings, config_findings, local_facts
from .gpus import gpu_findings
from .image import image_finding, resolve_image
from .kueue import kueue_checks
from .namespace import pod_security_finding, quota_findings
from .permissions import (
    NODES,
    Permission,
    nodes_finding,
    permission_findings,
    required_permissions,
)
from .probe import Progress, probe_findings, run_probe

if TYPE_CHECKING:
    from ..profiles import Profile


async def _ssar(client: KubeClient, perm: Permission, namespace: str | None, gate) -> Obj:
    async with gate:
        return await client.request(
            "POST",
            resource_path("selfsubjectaccessreviews"),
            body=perm.review(namespace),
            timeout=15,
        )


async def _identity(client: KubeClient) -> str | None:
    try:
        return await whoami(client, 10)
    except KubeError:
        return None


async def _permissions(
    client: KubeClient, namespace: str, identity: str | None, gate
) -> list[Check]:
    perms = required_permissions()
    answers = await asyncio.gather(
        *(_ssar(client, p, namespace, gate) for p in perms), return_exceptions=True
    )
    checks = permission_findings(perms, dict(zip(perms, answers, strict=True)), namespace, identity)
    nodes_answer: Obj | BaseException
    try:
        nodes_answer = await _ssar(client, NODES, None, gate)
    except KubeError as exc:
        nodes_answer = exc
    checks.append(nodes_finding(nodes_answer, identity, namespace))

    async def ask(perm: Permission, where: str | None) -> Obj:
        return await _ssar(client, perm, where, gate)

    checks += await kueue_checks(client, namespace, identity, ask)
    return checks


async def _namespace(client: KubeClient, namespace: str, profile: Profile | None) -> list[Check]:
    async def read_ns() -> Obj | BaseException:
        try:
            return await client.get("namespaces", namespace)
        except KubeError as exc:
            return exc

    async def read_quotas() -> list[Obj] | BaseException:
        try:
            return (await client.list("resourcequotas", namespace)).get("items") or []
        except KubeError as exc:
            return exc

    ns_obj, quotas = await asyncio.gather(read_ns(), read_quotas())
    return [pod_security_finding(namespace, ns_obj), *quota_findings(namespace, quotas, profile)]


async def _gpus(client: KubeClient, profiles: Iterable[Profile]) -> list[Check]:
    nodes: list[Obj] | BaseException
    try:
        nodes = (await client.list("nodes", limit=500)).get("items") or []
    except KubeError as exc:
        nodes = exc
    return gpu_findings(nodes, list(profiles))


async def _image_and_probe(
    client: KubeClient,
    namespace: str,
    settings: DoctorSettings,
    profile: Profile | None,
    probes: bool,
    progress: Progress,
) -> list[Check]:
    from ..profiles import default_image as env_default_image

    env_image = env_default_image()
    advertised = None
    if not ((profile and profile.image) or settings.default_image or env_image):
        advertised = await read_advertised_image(client)
    image, source = resolve_image(profile, settings.default_image, env_image, advertised)
    checks = [image_finding(image, source)]
    if not probes:
        checks.append(
            Check("probe", "Probe pod", "probe pod", "skip", "not run (--no-probes / probes=0)")
        )
        return checks
    if not image:
        checks.append(Check("probe", "Probe pod", "probe pod", "skip", "not run: no image"))
        return checks
    result = await run_probe(client, namespace, image, settings, profile, progress)
    return checks + probe_findings(result, settings.probe_timeout)


def _quiet(_message: str) -> None:
    return None


async def run_doctor(
    settings: DoctorSettings,
    *,
    get_client: Callable[[], Awaitable[KubeClient]] | None = None,
    probes: bool = True,
    progress: Progress | None = None,
) -> DoctorReport:
    """Run every check. `get_client`: the client to check (default: one made from
    `settings`, closed at the end). Never raises for cluster trouble: it is a finding."""
    from ..profiles import ProfileError, load_profiles

    progress = progress or _quiet
    report = DoctorReport()
    checks = report.checks
    started = time.monotonic()
    own = get_client is None
    client: KubeClient | None = None
    try:
        try:
            if get_client is None:
                client = await KubeClient.from_kubeconfig(
                    settings.kubeconfig, settings.context, settings.namespace
                )
            else:
                client = await get_client()
        except Exception as exc:  # noqa: BLE001 - a broken kubeconfig raises anything
            checks.append(
                Check(
                    "config.load",
                    "Configuration",
                    "kubeconfig",
                    "fail",
                    str(exc),
                    "set KUBECONFIG (or c.JupyterK8s.kubeconfig / --kubeconfig) to a kubeconfig "
                    "of the cluster, or run the server in a pod of it",
                )
            )
            return report
        cfg = client.config
        namespace = settings.namespace or cfg.namespace
        report.server, report.context, report.namespace = cfg.host, cfg.context, namespace
        default_path, default_exists, context_ns = await asyncio.to_thread(
            local_facts, cfg.source, cfg.context
        )
        checks += config_findings(
            settings,
            source=cfg.source,
            context=cfg.context,
            namespace=namespace,
            context_namespace=context_ns,
            env_kubeconfig=os.environ.get("KUBECONFIG"),
            default_path=default_path,
            default_exists=default_exists,
        )
        profile = None
        profile_list: list[Profile] = []
        try:
            profile_set = load_profiles(settings.profiles, None)
            profile, profile_list = profile_set.default, list(profile_set)
        except ProfileError as exc:
            checks.append(
                Check(
                    "config.profiles",
                    "Configuration",
                    "profiles",
                    "fail",
                    f"invalid c.JupyterK8s.profiles: {exc}",
                    "fix the profile in jupyter_server_config.py (docs/operators.md#profiles)",
                )
            )

        where = f"context {cfg.context!r} of {cfg.source}" if cfg.context else cfg.source
        version: Obj | None = None
        error: KubeError | None = None
        try:
            version = await client.request("GET", "/version", timeout=10)
        except KubeError as exc:
            error = exc
        reachable = error is None or error.status not in (0, 401)
        identity = await _identity(client) if reachable else None
        checks.append(api_findings(cfg.host, version, error, identity, where))
        if not reachable:
            checks.append(
                Check(
                    "skipped",
                    "Cluster",
                    "other checks",
                    "skip",
                    "not run: the API server must answer first",
                )
            )
            return report

        gate = asyncio.Semaphore(16)
        sections = await asyncio.gather(
            _permissions(client, namespace, identity, gate),
            _namespace(client, namespace, profile),
            _image_and_probe(client, namespace, settings, profile, probes, progress),
            _gpus(client, profile_list),
        )
        for found in sections:
            checks += found
        return report
    finally:
        if own and client is not None:
            await client.close()
        progress(f"doctor: done in {time.monotonic() - started:.1f} s")
