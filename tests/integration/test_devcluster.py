"""The local cluster, through the real APIs: jobs, logs, GPUs, RBAC, Pod Security, restarts."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from jupyter_k8s.k8s.client import Forbidden, KubeClient, KubeError, NotFound, wait_for
from jupyter_k8s.k8s.objects import container, pod_spec
from jupyter_k8s.k8s.watch import Reflector

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

IMAGE = "python:3.11-slim"  # recorded, not pulled: the node runs this environment's python


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def job(name: str, code: str, **pod_extra) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"test": name}},
                "spec": pod_spec(
                    [container("main", IMAGE, ["python", "-u", "-c", code])], **pod_extra
                ),
            },
        },
    }


def pod(name: str, code: str, resources: dict | None = None, **extra) -> dict:
    c = container("main", IMAGE, ["python", "-u", "-c", code])
    if resources:
        c["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": pod_spec([c], **extra),
    }


async def job_condition(client: KubeClient, ns: str, name: str) -> str | None:
    j = await client.get("jobs", name, ns)
    for cond in j.get("status", {}).get("conditions", []):
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return cond["type"]
    return None


async def pods_of(client: KubeClient, ns: str, job_name: str) -> list[dict]:
    listing = await client.list("pods", ns, labelSelector=f"job-name={job_name}")
    return listing["items"]


async def pod_phase(client: KubeClient, ns: str, name: str) -> str:
    return (await client.get("pods", name, ns)).get("status", {}).get("phase", "")


async def test_job_completes_logs_and_garbage_collection(user: KubeClient, namespace: str):
    name = _name("hello")
    await user.create("jobs", job(name, "print('hello')"), namespace)
    result = await wait_for(lambda: job_condition(user, namespace, name), 60, what="job end")
    assert result == "Complete"
    (p,) = await pods_of(user, namespace, name)
    assert p["status"]["phase"] == "Succeeded"
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    log = await user.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods/{p['metadata']['name']}/log", raw=True
    )
    assert log == "hello\n"

    await user.delete("jobs", name, namespace, propagation="Background")

    async def pod_gone() -> bool:
        return not await pods_of(user, namespace, name)

    await wait_for(pod_gone, 60, what="the garbage collector to delete the job's pod")


async def test_follow_log_first_line_fast(user: KubeClient, namespace: str):
    name = _name("ticker")
    code = "import time\nfor i in range(40):\n    print('tick', i)\n    time.sleep(0.2)"
    await user.create("pods", pod(name, code), namespace)
    await wait_for(lambda: _is(pod_phase(user, namespace, name), "Running"), 30, what="Running")
    started = time.monotonic()
    first_at = None
    lines = []
    async for line in user.stream_lines(
        f"/api/v1/namespaces/{namespace}/pods/{name}/log", {"follow": "true"}
    ):
        if first_at is None:
            first_at = time.monotonic() - started
        lines.append(line.decode())
        if len(lines) == 3:
            break
    assert first_at is not None and first_at < 1.0, f"first line after {first_at:.2f} s"
    assert lines[0].startswith("tick 0")
    assert await pod_phase(user, namespace, name) == "Running"  # it still runs
    await user.delete("pods", name, namespace, grace_period=0)


async def _is(coro, value) -> bool:
    return (await coro) == value


async def test_gpu_scheduling(user: KubeClient, admin: KubeClient, namespace: str):
    greedy, fits = _name("gpu-greedy"), _name("gpu-fits")
    gpu = lambda n: {"limits": {"nvidia.com/gpu": str(n)}}  # noqa: E731
    code = "import os; print('visible', os.environ.get('NVIDIA_VISIBLE_DEVICES'))"
    await user.create("pods", pod(greedy, code, gpu(2)), namespace)
    await user.create("pods", pod(fits, code, gpu(1)), namespace)

    async def unschedulable() -> dict | None:
        p = await user.get("pods", greedy, namespace)
        for c in p.get("status", {}).get("conditions", []):
            if c["type"] == "PodScheduled" and c["status"] == "False":
                return c
        return None

    cond = await wait_for(unschedulable, 30, what="PodScheduled=False")
    assert cond["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in cond["message"]

    async def failed_scheduling_event() -> dict | None:
        events = await user.list("events", namespace, fieldSelector=f"involvedObject.name={greedy}")
        return next((e for e in events["items"] if e["reason"] == "FailedScheduling"), None)

    event = await wait_for(failed_scheduling_event, 30, what="a FailedScheduling event")
    assert "Insufficient nvidia.com/gpu" in event["message"]

    await wait_for(
        lambda: _is(pod_phase(user, namespace, fits), "Succeeded"),
        30,
        what="the fitting GPU pod to finish",
    )
    log = await user.request("GET", f"/api/v1/namespaces/{namespace}/pods/{fits}/log", raw=True)
    assert log.strip() == "visible 0"
    assert await pod_phase(user, namespace, greedy) == "Pending"
    for n in (greedy, fits):
        await user.delete("pods", n, namespace, grace_period=0)


async def test_least_privilege(user: KubeClient, namespace: str):
    # What the shipped Role allows ...
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": _name("cm")},
        "data": {"k": "v"},
    }
    await user.create("configmaps", cm, namespace)
    await user.list("jobs", namespace)
    await user.list("pods", namespace)
    await user.delete("configmaps", cm["metadata"]["name"], namespace)
    # ... and what it doesn't.
    with pytest.raises(Forbidden) as exc:
        await user.list("nodes")
    assert exc.value.status == 403 and "nodes" in exc.value.message
    with pytest.raises(Forbidden):
        await user.get("secrets", "anything", "kube-system")
    with pytest.raises(Forbidden):
        await user.list("secrets", namespace)  # create/get/delete only: no listing Secrets
    with pytest.raises(Forbidden):
        await user.list("pods", "default")


async def test_pod_security_restricted_enforced(user: KubeClient, namespace: str):
    bad = pod(_name("rooty"), "print(1)")
    # Allowed anywhere but under "restricted": root, privilege escalation, all capabilities.
    bad["spec"]["securityContext"] = {}
    bad["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": True}
    with pytest.raises(KubeError) as exc:
        await user.create("pods", bad, namespace)
    assert exc.value.status == 403
    assert 'violates PodSecurity "restricted' in exc.value.message
    assert "allowPrivilegeEscalation" in exc.value.message


async def test_apiserver_restart_during_job(dev_cluster, user: KubeClient, namespace: str):
    name = _name("survivor")
    reflector = Reflector(user, "pods", namespace, label_selector=f"job-name={name}")
    reflector.start()
    try:
        await user.create("jobs", job(name, "import time; time.sleep(4); print('done')"), namespace)
        await reflector.wait_for(
            lambda pods: any(p.get("status", {}).get("phase") == "Running" for p in pods), 30
        )
        relists_before = reflector.relists
        await asyncio.to_thread(dev_cluster.kill_component, "kube-apiserver")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(dev_cluster.start_component, "kube-apiserver")
        # The watch resumes (from its resourceVersion, or a relist) and sees the pod finish.
        done = await reflector.wait_for(
            lambda pods: [p for p in pods if p.get("status", {}).get("phase") == "Succeeded"], 60
        )
        assert done
        assert reflector.relists >= relists_before
        result = await wait_for(lambda: job_condition(user, namespace, name), 60, what="job end")
        assert result == "Complete"
    finally:
        await reflector.stop()


async def test_volumes_env_and_downward_api(user: KubeClient, namespace: str):
    secret_name, cm_name, name = _name("sec"), _name("cm"), _name("vols")
    await user.create(
        "secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name},
            "stringData": {"token": "s3cr3t"},
        },
        namespace,
    )
    await user.create(
        "configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": cm_name},
            "data": {"greeting": "hi"},
        },
        namespace,
    )
    code = (
        "import os, stat\n"
        "p='/var/run/jk-test/secret/token'\n"
        "print('secret', open(p).read(), oct(stat.S_IMODE(os.stat(p).st_mode)))\n"
        "print('config', open('/etc/jk-test/greeting').read())\n"
        "open('/scratch/x','w').write('ok'); print('scratch', open('/scratch/x').read())\n"
        "print('env', os.environ['POD_NAME'], os.environ['POD_IP'].startswith('127.'),"
        " os.environ['GREETING'])\n"
    )
    p = pod(
        name,
        code,
        volumes=[
            {"name": "s", "secret": {"secretName": secret_name, "defaultMode": 0o400}},
            {"name": "c", "configMap": {"name": cm_name}},
            {"name": "e", "emptyDir": {}},
        ],
    )
    c = p["spec"]["containers"][0]
    c["volumeMounts"] = [
        {"name": "s", "mountPath": "/var/run/jk-test/secret", "readOnly": True},
        {"name": "c", "mountPath": "/etc/jk-test"},
        {"name": "e", "mountPath": "/scratch"},
    ]
    c["env"] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {
            "name": "GREETING",
            "valueFrom": {"configMapKeyRef": {"name": cm_name, "key": "greeting"}},
        },
    ]
    await user.create("pods", p, namespace)
    phase = await wait_for(lambda: _terminal(user, namespace, name), 30, what="pod end")
    log = await user.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log", raw=True)
    assert phase == "Succeeded", log
    assert "secret s3cr3t 0o400" in log
    assert "config hi" in log
    assert "scratch ok" in log
    assert f"env {name} True hi" in log


async def _terminal(client: KubeClient, ns: str, name: str) -> str | None:
    phase = await pod_phase(client, ns, name)
    return phase if phase in ("Succeeded", "Failed") else None


async def test_missing_secret_is_create_container_config_error(user: KubeClient, namespace: str):
    name = _name("nosecret")
    p = pod(name, "print(1)")
    p["spec"]["containers"][0]["env"] = [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "does-not-exist", "key": "k"}}}
    ]
    await user.create("pods", p, namespace)

    async def waiting_reason() -> str | None:
        st = (await user.get("pods", name, namespace)).get("status", {})
        for cs in st.get("containerStatuses", []):
            return cs["state"].get("waiting", {}).get("reason")
        return None

    assert await wait_for(lambda: _eq(waiting_reason(), "CreateContainerConfigError"), 30)
    await user.delete("pods", name, namespace, grace_period=0)


async def _eq(coro, value):
    return (await coro) == value


async def test_deletion_grace_sigterm_then_gone(user: KubeClient, namespace: str):
    name = _name("graceful")
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('got SIGTERM', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    await user.create("pods", pod(name, code), namespace)
    await wait_for(lambda: _is(pod_phase(user, namespace, name), "Running"), 30, what="Running")
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await user.delete("pods", name, namespace, grace_period=20)

    async def gone() -> bool:
        try:
            await user.get("pods", name, namespace)
            return False
        except NotFound:
            return True

    await wait_for(gone, 30, what="the pod to be deleted")
    assert time.monotonic() - started < 10, "SIGTERM was handled: no need to wait out the grace"


async def test_active_deadline_and_oom(user: KubeClient, namespace: str):
    slow, hog = _name("deadline"), _name("hog")
    await user.create(
        "pods", pod(slow, "import time; time.sleep(60)", activeDeadlineSeconds=2), namespace
    )
    await user.create(
        "pods",
        pod(
            hog, "x = bytearray(400 * 1024 * 1024); print(len(x))", {"limits": {"memory": "100Mi"}}
        ),
        namespace,
    )
    assert await wait_for(lambda: _terminal(user, namespace, slow), 30) == "Failed"
    assert (await user.get("pods", slow, namespace))["status"]["reason"] == "DeadlineExceeded"
    assert await wait_for(lambda: _terminal(user, namespace, hog), 30) == "Failed"
    term = (await user.get("pods", hog, namespace))["status"]["containerStatuses"][0]["state"]
    assert term["terminated"]["reason"] == "OOMKilled"
    assert term["terminated"]["exitCode"] == 137


async def _pod_events(client: KubeClient, ns: str, name: str) -> list[dict]:
    listing = await client.list("events", ns, fieldSelector=f"involvedObject.name={name}")
    return sorted(listing["items"], key=lambda e: int(e["metadata"]["resourceVersion"]))


def _said(events: list[dict]) -> list[tuple[str | None, str, str]]:
    """(container, reason, message) of the kubelet's events, in the order they were posted."""
    out = []
    for e in events:
        if e["source"].get("component") == "kubelet":
            path = e["involvedObject"].get("fieldPath") or ""
            container = path[path.find("{") + 1 : -1] if "{" in path else None
            out.append((container, e["reason"], e["message"]))
    return out


async def _started_twice(client: KubeClient, ns: str, name: str) -> list | None:
    said = _said(await _pod_events(client, ns, name))
    return said if sum(r == "Started" for _, r, _ in said) == 2 else None


async def test_kubelet_events_start_and_stop(user: KubeClient, namespace: str):
    name = _name("events")
    p = pod(name, "import time; print('up', flush=True); time.sleep(600)")
    p["spec"]["initContainers"] = [container("stage", "busybox:1.36", ["python", "-c", "pass"])]
    await user.create("pods", p, namespace)
    await wait_for(lambda: _is(pod_phase(user, namespace, name), "Running"), 30, what="Running")
    started = await wait_for(
        lambda: _started_twice(user, namespace, name), 10, what="the Started events"
    )
    present = "already present on machine and can be accessed by the pod"
    assert started == [
        ("stage", "Pulled", f'Container image "busybox:1.36" {present}'),
        ("stage", "Created", "Container created"),
        ("stage", "Started", "Container started"),
        ("main", "Pulled", f'Container image "{IMAGE}" {present}'),
        ("main", "Created", "Container created"),
        ("main", "Started", "Container started"),
    ]
    events = await _pod_events(user, namespace, name)
    assert any(e["reason"] == "Scheduled" for e in events)  # the scheduler's, as ever
    kubelet = next(e for e in events if e["reason"] == "Started")
    assert kubelet["type"] == "Normal" and kubelet["count"] == 1
    assert kubelet["involvedObject"]["uid"] and kubelet["source"]["host"]

    await user.delete("pods", name, namespace, grace_period=1)

    async def killing() -> list | None:
        said = _said(await _pod_events(user, namespace, name))
        return said if ("main", "Killing", "Stopping container main") in said else None

    said = await wait_for(killing, 20, what="a Killing event")
    assert ("stage", "Killing", "Stopping container stage") not in said  # it had ended


async def test_crash_loop_back_off_events(user: KubeClient, namespace: str):
    name = _name("crashy")
    await user.create(
        "pods", pod(name, "import sys; sys.exit(3)", restartPolicy="Always"), namespace
    )
    p = await user.get("pods", name, namespace)
    uid = p["metadata"]["uid"]

    async def backed_off() -> dict | None:
        events = await _pod_events(user, namespace, name)
        started = next((e for e in events if e["reason"] == "Started"), None)
        backoff = next((e for e in events if e["reason"] == "BackOff"), None)
        return (
            {"started": started, "backoff": backoff}
            if started and backoff and (started["count"] >= 2)
            else None
        )

    found = await wait_for(backed_off, 30, what="BackOff and a second Started")
    backoff = found["backoff"]
    assert backoff["type"] == "Warning"
    assert backoff["message"] == (
        f"Back-off restarting failed container main in pod {name}_{namespace}({uid})"
    )
    assert backoff["involvedObject"]["fieldPath"] == "spec.containers{main}"
    assert found["started"]["lastTimestamp"] >= found["started"]["firstTimestamp"]
    await user.delete("pods", name, namespace, grace_period=0)
