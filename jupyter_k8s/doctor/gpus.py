"""GPUs: what the nodes advertise, and whether the profiles that ask for GPUs find them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..k8s.client import Forbidden, Obj
from ..k8s.cluster import node_gpus
from .checks import Check

if TYPE_CHECKING:
    from ..profiles import Profile


def gpu_findings(nodes: list[Obj] | BaseException, profiles: Iterable[Profile] = ()) -> list[Check]:
    sec = "GPUs"
    if isinstance(nodes, Forbidden):
        return [
            Check(
                "gpus.nodes",
                sec,
                "GPUs",
                "skip",
                "unknown: listing nodes is not allowed (optional)",
            )
        ]
    if isinstance(nodes, BaseException):
        return [Check("gpus.nodes", sec, "GPUs", "warn", f"cannot list nodes: {nodes}")]
    totals = node_gpus(nodes)
    wanted = sorted({p.gpu_resource for p in profiles if p.gpus})
    missing = [r for r in wanted if not totals.get(r)]
    checks = []
    if totals:
        for res, count in sorted(totals.items()):
            with_it = sum(1 for n in nodes if node_gpus([n]).get(res))
            checks.append(
                Check(
                    f"gpus.{res}",
                    sec,
                    res,
                    "ok",
                    f"{count} allocatable on {with_it} of {len(nodes)} node"
                    f"{'s' if len(nodes) != 1 else ''}",
                )
            )
    elif not missing:
        checks.append(Check("gpus.nodes", sec, "GPUs", "ok", "no node advertises GPUs"))
    for res in missing:
        users = ", ".join(repr(p.name) for p in profiles if p.gpus and p.gpu_resource == res)
        checks.append(
            Check(
                f"gpus.{res}",
                sec,
                res,
                "warn",
                f"no node advertises it, yet profile {users} asks for it: such jobs and kernels "
                f"wait (Insufficient {res})",
                "install the GPU vendor's device plugin on the GPU nodes, or change the profile",
            )
        )
    return checks
