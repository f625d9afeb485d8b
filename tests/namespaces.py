"""A fresh namespace for one test module, on any local cluster (the session's, Kueue's)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from jupyter_k8s.devcluster.bootstrap import apply_rbac, create_namespace
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient


@contextmanager
def module_namespace(
    admin_config: ClusterConfig,
    stem: str,
    setup: Callable[[KubeClient, str], Awaitable[object]] | None = None,
) -> Iterator[str]:
    """Namespace `<stem>-<random>`, Pod Security restricted, with the shipped RBAC (and what
    `setup` adds); deleted on leaving."""
    name = f"{stem}-{uuid.uuid4().hex[:5]}"

    async def make() -> None:
        async with KubeClient(admin_config) as client:
            await create_namespace(client, name)
            await apply_rbac(client, name)
            if setup is not None:
                await setup(client, name)
            # Pods can't be created before the ServiceAccount admission finds "default".
            for _ in range(100):
                try:
                    await client.get("serviceaccounts", "default", name)
                    return
                except Exception:  # noqa: BLE001
                    await asyncio.sleep(0.1)

    async def drop() -> None:
        async with KubeClient(admin_config) as client:
            await client.delete("namespaces", name, missing_ok=True)

    asyncio.run(make())
    try:
        yield name
    finally:
        asyncio.run(drop())
