"""KernelService against a fake API client: only the user's pods are seen, the heartbeat of
the pods this holder holds is renewed (once per period), orphans are claimed (exactly one of
two claimants wins), and a Secret is used only when it is the user's and the pod's."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jupyter_k8s.k8s.client import Conflict, NotFound
from jupyter_k8s.k8s.watch import Reflector
from jupyter_k8s.kernels.objects import (
    ANN_HEARTBEAT,
    ANN_SERVER_ID,
    DEFAULT_PORTS,
    KernelPodBuild,
    make_connection_info,
    make_pod,
    make_secret,
    set_owner,
)
from jupyter_k8s.kernels.service import KernelsConfig, KernelService
from jupyter_k8s.names import owner_label
from jupyter_k8s.profiles import load_profiles

ME, OTHER = "a" * 32, "b" * 32
PROFILE = load_profiles(None, "img:1").get("cpu")


def iso(seconds_ago: float) -> str:
    t = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return t.isoformat().replace("+00:00", "Z")


def kernel_pod(name: str, owner: str = "dave", holder: str | None = ME, beat_ago=None) -> dict:
    build = KernelPodBuild(
        name=name,
        namespace="ns",
        kernel_id=f"id-{name}",
        kernel_name="k8s-cpu",
        owner=owner,
        profile=PROFILE,
        image="img:1",
        server_id=holder,
    )
    pod = make_pod(build)
    pod["metadata"].update(uid=f"uid-{name}", resourceVersion="1", creationTimestamp=iso(3600))
    if beat_ago is not None:
        pod["metadata"]["annotations"][ANN_HEARTBEAT] = iso(beat_ago)
    return pod


class FakeClient:
    """Pods in a dict; merge patches honour resourceVersion, JSON patches their "test"."""

    def __init__(self, pods: list[dict]):
        self.pods = {p["metadata"]["name"]: copy.deepcopy(p) for p in pods}
        self.patches: list[tuple[str, Any]] = []
        self.secrets: dict[str, dict] = {}

    async def get(self, resource: str, name: str, namespace: str | None = None) -> dict:
        store = self.pods if resource == "pods" else self.secrets
        if name not in store:
            raise NotFound(404, "NotFound", f"{name} not found")
        return copy.deepcopy(store[name])

    async def patch(self, resource, name, body, namespace=None, sub=None, kind="merge"):
        if name not in self.pods:
            raise NotFound(404, "NotFound", f"{name} not found")
        pod = self.pods[name]
        meta = pod["metadata"]
        if kind == "json":
            for op in body:
                key = op["path"].rsplit("/", 1)[1].replace("~1", "/")
                if op["op"] == "test" and meta["annotations"].get(key) != op["value"]:
                    raise Conflict(422, "Invalid", "test failed")
            for op in body:
                if op["op"] == "add":
                    meta["annotations"][op["path"].rsplit("/", 1)[1].replace("~1", "/")] = op[
                        "value"
                    ]
        else:
            want = body["metadata"].get("resourceVersion")
            if want is not None and want != meta["resourceVersion"]:
                raise Conflict(409, "Conflict", "the object has been modified")
            meta["annotations"].update(body["metadata"].get("annotations") or {})
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        self.patches.append((name, body))
        return copy.deepcopy(pod)


def service(client: FakeClient, owner: str = "dave", **config: Any) -> KernelService:
    async def get_client():
        return client

    svc = KernelService(
        get_client,  # type: ignore[arg-type]
        None,
        KernelsConfig(namespace="ns", owner=owner, server_id=ME, **config),
    )
    svc.pods = Reflector(client, "pods", "ns")  # type: ignore[arg-type]
    for pod in client.pods.values():
        svc.pods.store[f"ns/{pod['metadata']['name']}"] = copy.deepcopy(pod)
    return svc


def test_only_the_users_pods_are_seen():
    forged = kernel_pod("forged", owner="mallory")
    forged["metadata"]["labels"]["jupyter-k8s.io/owner"] = owner_label("dave")
    svc = service(FakeClient([kernel_pod("mine"), forged, kernel_pod("bobs", owner="bob")]))
    assert [p["metadata"]["name"] for p in svc.kernel_pods()] == ["mine"]
    assert svc.pod("mine") is not None
    assert svc.pod("forged") is None and svc.pod("bobs") is None


async def test_heartbeat_renews_the_pods_this_holder_holds_once_per_period():
    deleting = kernel_pod("deleting")
    deleting["metadata"]["deletionTimestamp"] = iso(1)
    client = FakeClient(
        [
            kernel_pod("mine"),
            kernel_pod("theirs", holder=OTHER),
            deleting,
            kernel_pod("old", holder=None),
        ]
    )
    svc = service(client, heartbeat_seconds=0.3)
    task = asyncio.ensure_future(svc._renew_heartbeats())
    try:
        await asyncio.sleep(0.1)
        # on first sight, and only the pod that names this holder
        assert [name for name, _ in client.patches] == ["mine"]
        assert ANN_HEARTBEAT in client.pods["mine"]["metadata"]["annotations"]
        await asyncio.sleep(0.5)
        beats = [name for name, _ in client.patches]
        assert set(beats) == {"mine"} and 2 <= len(beats) <= 3
    finally:
        task.cancel()
    # a pod another server took over meanwhile is not refreshed (the patch's "test" fails)
    client.pods["mine"]["metadata"]["annotations"][ANN_SERVER_ID] = OTHER
    assert not await svc.renew_heartbeat("mine")


async def test_claims_mine_and_orphans_never_a_live_holders():
    client = FakeClient(
        [
            kernel_pod("mine", beat_ago=3600),
            kernel_pod("orphan", holder=OTHER, beat_ago=400),
            kernel_pod("live", holder=OTHER, beat_ago=10),
            kernel_pod("legacy", holder=None),  # made before server ids: an orphan by age
        ]
    )
    svc = service(client)
    for name in ("mine", "orphan", "legacy"):
        claimed = await svc.claim(copy.deepcopy(client.pods[name]), 300)
        assert claimed is not None, name
        ann = client.pods[name]["metadata"]["annotations"]
        assert ann[ANN_SERVER_ID] == ME
        assert datetime.fromisoformat(ann[ANN_HEARTBEAT].replace("Z", "+00:00")) > (
            datetime.now(UTC) - timedelta(seconds=5)
        )
    assert await svc.claim(copy.deepcopy(client.pods["live"]), 300) is None
    assert client.pods["live"]["metadata"]["annotations"][ANN_SERVER_ID] == OTHER


async def test_a_claim_rereads_the_pod_when_it_changed_meanwhile():
    client = FakeClient([kernel_pod("p", holder=OTHER, beat_ago=400)])
    svc = service(client)
    seen = copy.deepcopy(client.pods["p"])
    # its holder comes back and renews the heartbeat after we read the pod
    await client.patch("pods", "p", {"metadata": {"annotations": {ANN_HEARTBEAT: iso(0)}}}, "ns")
    assert await svc.claim(seen, 300) is None
    assert client.pods["p"]["metadata"]["annotations"][ANN_SERVER_ID] == OTHER
    # merely changed (no fresh heartbeat): read again, then claimed
    client.pods["p"]["metadata"]["annotations"][ANN_HEARTBEAT] = iso(400)
    seen = copy.deepcopy(client.pods["p"])
    client.pods["p"]["metadata"]["resourceVersion"] = "99"
    assert await svc.claim(seen, 300) is not None


async def test_of_two_claimants_exactly_one_wins():
    client = FakeClient([kernel_pod("p", holder="c" * 32, beat_ago=400)])
    one, two = service(client), service(client)
    two.config.server_id = OTHER
    seen = copy.deepcopy(client.pods["p"])
    results = await asyncio.gather(one.claim(seen, 300), two.claim(copy.deepcopy(seen), 300))
    assert sum(r is not None for r in results) == 1


async def test_a_claim_refuses_a_pod_that_is_not_the_users():
    forged = kernel_pod("forged", owner="mallory", holder=ME)
    forged["metadata"]["labels"]["jupyter-k8s.io/owner"] = owner_label("dave")
    client = FakeClient([forged])
    assert await service(client).claim(copy.deepcopy(forged), 300) is None
    assert client.patches == []


async def test_the_connection_is_read_only_from_the_users_secret_owned_by_the_pod():
    pod = kernel_pod("p")
    client = FakeClient([pod])
    svc = service(client)
    build = KernelPodBuild(
        name="p",
        namespace="ns",
        kernel_id="id-p",
        kernel_name="k8s-cpu",
        owner="dave",
        profile=PROFILE,
        image="img:1",
    )
    info = make_connection_info(DEFAULT_PORTS, "the-key")
    good = set_owner(make_secret(build, info, ""), pod)
    client.secrets["p"] = good
    assert (await svc.read_connection(pod))["key"] == "the-key"
    # another user's Secret under that name, or one not owned by this pod: refused
    client.secrets["p"] = set_owner(make_secret(replace(build, owner="mallory"), info, ""), pod)
    client.secrets["p"]["metadata"]["labels"]["jupyter-k8s.io/owner"] = owner_label("dave")
    with pytest.raises(ValueError, match="not the connection Secret"):
        await svc.read_connection(pod)
    other = copy.deepcopy(pod)
    other["metadata"]["uid"] = "another-uid"
    client.secrets["p"] = set_owner(make_secret(build, info, ""), other)
    with pytest.raises(ValueError, match="not the connection Secret"):
        await svc.read_connection(pod)
    # junk inside the user's own Secret: refused too
    junk = copy.deepcopy(good)
    junk["data"]["connection.json"] = base64.b64encode(
        json.dumps({**info, "hb_port": "1; rm"}).encode()
    ).decode()
    client.secrets["p"] = junk
    with pytest.raises(ValueError, match="hb_port"):
        await svc.read_connection(pod)
    # and a pod that is not the user's is not even asked about
    forged = kernel_pod("p", owner="mallory")
    with pytest.raises(ValueError, match="not one of"):
        await svc.read_connection(forged)


def test_thresholds_and_the_heartbeat_period_follow_the_orphan_setting():
    default = KernelsConfig(namespace="ns", owner="o")
    assert (default.standalone_stale(), default.heartbeat_period()) == (300, 30)
    # c.JupyterK8s.kernel_orphan_seconds = 60 (a server) or orphan_seconds (a standalone
    # client): one threshold for both kinds of pods, and beats four times within it
    short = KernelsConfig(namespace="ns", owner="o", server_stale_seconds=60)
    assert (short.standalone_stale(), short.heartbeat_period()) == (60, 15)
    split = KernelsConfig(
        namespace="ns", owner="o", server_stale_seconds=600, standalone_stale_seconds=8
    )
    assert (split.standalone_stale(), split.heartbeat_period()) == (8, 2)
    explicit = KernelsConfig(namespace="ns", owner="o", heartbeat_seconds=5)
    assert explicit.heartbeat_period() == 5


async def test_a_standalone_clients_pending_pod_is_held_from_its_creation():
    """papermill's pod waits for a GPU longer than the stale threshold: its client renews the
    heartbeat from the moment the pod is created (gated, then Unschedulable), not once it
    runs, so the owner's server never takes it for the pod of a killed client."""
    from jupyter_k8s.kernels.status import stale_standalone

    client = FakeClient([])
    svc = service(client, server_stale_seconds=0.8)
    svc.config.client = "standalone"
    assert svc.config.heartbeat_period() == pytest.approx(0.2)
    build = KernelPodBuild(
        name="pm",
        namespace="ns",
        kernel_id="id-pm",
        kernel_name="k8s-gpu",
        owner="dave",
        profile=PROFILE,
        image="img:1",
        client="standalone",
        server_id=ME,
    )
    pod = make_pod(build)  # with its scheduling gate, as `create` makes it
    pod["metadata"].update(uid="uid-pm", resourceVersion="1", creationTimestamp=iso(0))
    pod["status"] = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
    }

    def api_pods() -> list[dict]:
        return [copy.deepcopy(p) for p in client.pods.values()]

    task = asyncio.ensure_future(svc._renew_heartbeats())
    try:
        await asyncio.sleep(0.05)
        assert client.patches == []
        client.pods["pm"] = copy.deepcopy(pod)
        svc.pods.store["ns/pm"] = copy.deepcopy(pod)  # what the watch delivers
        svc.pods.notify()
        await asyncio.sleep(0.05)
        assert [name for name, _ in client.patches] == ["pm"], "no heartbeat at creation"
        # Pending for 3x the threshold: the owner's collector never finds it stale
        for _ in range(12):
            await asyncio.sleep(0.2)
            assert stale_standalone(api_pods(), datetime.now(UTC), 0.8) == []
        assert 10 <= len(client.patches) <= 16, len(client.patches)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # its client gone (killed): stale once the threshold has passed, and only then
    assert stale_standalone(api_pods(), datetime.now(UTC), 0.8) == []
    await asyncio.sleep(1.0)
    assert stale_standalone(api_pods(), datetime.now(UTC), 0.8) == ["pm"]
