"""JupyterHub spawn time with the per-user namespace hook and without it, on the local cluster.

    python bench/hub_spawn.py [--n 5] [--json results.json]

Starts a private local cluster and two real JupyterHubs (6.x, KubeSpawner 7.x,
configurable-http-proxy) side by side, both as the identity of manifests/hub-rbac.yaml:

* "hook": the two lines of docs/jupyterhub.md (`setup_user_namespaces`, with a quota): each user
  gets a namespace of their own, made by the pre-spawn hook, and the server pod is admitted in a
  dry run first;
* "no hook": every server in one namespace made beforehand (the same ServiceAccount and
  security contexts), KubeSpawner as it comes.

Spawns alternate between the two hubs, N users each: the time from POST
/hub/api/users/{name}/server to the progress stream's "ready" (the pod started, the single-user
server answering through the proxy). First spawns (the hook makes the user's namespace and
objects) and then second spawns of the same users (everything there: the hook only checks).
From the hub's log: the hook's own time and API calls per spawn, and objects per user.

On the process node a pod is a local process, so the spawn time is mostly the start of
`jupyterhub-singleuser` itself; the hook's share is what the comparison shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from benchlib import percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from test_hub_namespaces import make_hub_identity  # noqa: E402
from test_jupyterhub import LocalHub, find_chp  # noqa: E402

from jupyter_k8s.devcluster.controlplane import DevCluster  # noqa: E402
from jupyter_k8s.k8s.client import KubeClient, load_config  # noqa: E402
from jupyter_k8s.k8s.tenancy import apply_rbac, create_namespace  # noqa: E402

# A quota on memory requests needs every pod to request memory: the LimitRange gives a default.
HOOK_OPTIONS = (
    'quota={"pods": 20, "requests.nvidia.com/gpu": 1, "requests.memory": "16Gi"}, '
    'limit_range={"defaultRequest": {"memory": "256Mi"}}'
)
HOOK_LINE = re.compile(
    r"jupyter-k8s: namespace (\S+) for (\S+): (\d+) created, (\d+) updated, (\d+) unchanged; "
    r"(\d+) API calls in (\d+) ms"
)
DRY_RUN_LINE = re.compile(
    r"jupyter-k8s: server pod of (\S+) admitted in \S+ \(dry run, 1 API call in (\d+) ms\)"
)


async def spawn_and_stop(hub: LocalHub, name: str) -> float:
    result = await hub.spawn(name)
    if not result.get("ready"):
        raise RuntimeError(f"{name}: {result}\n{hub.log_tail()}")
    await hub.stop_server(name)
    return result["seconds"]


async def measure(hook: LocalHub, plain: LocalHub, n: int, tag: str) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"hook, first": [], "hook, again": [], "no hook": []}
    users = [f"{tag}-{i}" for i in range(n)]
    for name in users:
        await hook.add_user(f"h{name}")
        await plain.add_user(f"n{name}")
    for name in users:  # alternate: drift on a shared machine hits both alike
        times["hook, first"].append(await spawn_and_stop(hook, f"h{name}"))
        times["no hook"].append(await spawn_and_stop(plain, f"n{name}"))
    for name in users:
        times["hook, again"].append(await spawn_and_stop(hook, f"h{name}"))
        times["no hook"].append(await spawn_and_stop(plain, f"n{name}"))
    return times


def hook_figures(log: str) -> dict[str, list[float]]:
    first, again = [], []
    for m in HOOK_LINE.finditer(log):
        created, calls, ms = int(m[3]), int(m[6]), int(m[7])
        (first if created else again).append((created, calls, ms))
    dry = [int(m[2]) for m in DRY_RUN_LINE.finditer(log)]
    return {
        "objects_per_user": [c for c, _, _ in first],
        "calls_first": [c for _, c, _ in first],
        "calls_again": [c for _, c, _ in again],
        "ms_first": [ms for _, _, ms in first],
        "ms_again": [ms for _, _, ms in again],
        "dry_run_ms": dry,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="users (spawns per kind)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    chp = find_chp()
    if chp is None:
        sys.exit("configurable-http-proxy is not installed: run scripts/setup")
    tag = uuid.uuid4().hex[:4]
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        cluster = DevCluster(tmpdir / "cluster", progress=lambda _m: None)
        cluster.up(wait=True)
        hubs: list[LocalHub] = []
        try:

            async def prepare() -> Path:
                async with KubeClient(await load_config(str(cluster.admin_kubeconfig))) as admin:
                    identity = await make_hub_identity(
                        admin, cluster.pki.ca.cert, tmpdir, f"bench{tag}"
                    )
                    await create_namespace(admin, "bench-shared")
                    await apply_rbac(admin, "bench-shared")
                    return identity

            identity = asyncio.run(prepare())
            hook = LocalHub(
                tmpdir / "hub-hook",
                identity,
                chp,
                namespace_template="bench-{username}",
                hook_options=HOOK_OPTIONS,
            )
            plain = LocalHub(
                tmpdir / "hub-plain", identity, chp, hook=False, shared_namespace="bench-shared"
            )
            hubs = [hook, plain]
            for hub in hubs:
                hub.start()
            times = asyncio.run(measure(hook, plain, args.n, tag))
            figures = hook_figures(hook.log_path.read_text(errors="replace"))
        finally:
            for hub in hubs:
                hub.stop()
            cluster.down(quiet=True)

    p50 = {k: percentile(v, 50) for k, v in times.items()}
    print(f"spawn to ready, p50 over {args.n} users ({args.n * 2} without the hook):")
    for kind, values in times.items():
        print(
            f"  {kind:<12} p50 {p50[kind]:6.2f} s   min {min(values):6.2f}   "
            f"max {max(values):6.2f}   mean {statistics.mean(values):6.2f}"
        )
    print(
        f"  the hook adds (p50): first spawn {p50['hook, first'] - p50['no hook']:+.2f} s, "
        f"again {p50['hook, again'] - p50['no hook']:+.2f} s"
    )
    objs = sorted(set(figures["objects_per_user"]))
    print(f"objects per user: {', '.join(map(str, objs))} (namespace, ServiceAccount, Role,")
    print("  RoleBinding, ResourceQuota, LimitRange, NetworkPolicy)")
    print(
        "hook, per spawn: first "
        f"{percentile(figures['calls_first'], 50):.0f} API calls in p50 "
        f"{percentile(figures['ms_first'], 50):.0f} ms, again "
        f"{percentile(figures['calls_again'], 50):.0f} API calls in p50 "
        f"{percentile(figures['ms_again'], 50):.0f} ms; + the dry run, 1 call in p50 "
        f"{percentile(figures['dry_run_ms'], 50):.0f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps({"times": times, "p50": p50, "hook": figures}, indent=1))


if __name__ == "__main__":
    main()
