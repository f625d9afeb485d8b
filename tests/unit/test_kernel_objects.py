"""The kernel pod and Secret builders, against golden dicts (tests/unit/golden/kernel_*.json).

To regenerate after an intended change: JUPYTER_K8S_UPDATE_GOLDEN=1 pytest this file, then
read the diff of the golden files like any other change.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
import zmq
from builders import golden

from jupyter_k8s.kernels.objects import (
    CONNECTION_KEY,
    DEFAULT_PORTS,
    KERNEL_SELECTOR,
    LAUNCHER_KEY,
    SCHEDULING_GATE,
    SECRET_MODE,
    KernelPodBuild,
    escape_expansion,
    make_connection_info,
    make_pod,
    make_secret,
    owner_selector,
    read_connection_secret,
    set_owner,
    ungate_patch,
    working_dir_for,
)
from jupyter_k8s.names import is_label, is_label_value
from jupyter_k8s.profiles import load_profiles

PROFILES = load_profiles(
    [
        {
            "name": "a100",
            "display_name": "A100",
            "image": "img:gpu",
            "cpu_request": "4",
            "cpu_limit": "8",
            "memory_request": "16Gi",
            "memory_limit": "16Gi",
            "gpus": 2,
            "node_selector": {"gpu": "a100"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "runtime_class_name": "nvidia",
            "env": {"OMP_NUM_THREADS": "4", "MODE": "profile"},
        },
        {
            "name": "data",
            "memory_limit": "1Gi",
            "pod_overrides": {
                "priorityClassName": "interactive",
                "restartPolicy": "Never",
                "containers": [
                    {"name": "runner", "volumeMounts": [{"name": "ds", "mountPath": "/data"}]}
                ],
                "volumes": [{"name": "ds", "persistentVolumeClaim": {"claimName": "ds"}}],
            },
        },
    ],
    default_image="hub:1",
)

GPU_BUILD = KernelPodBuild(
    name="kernel-0f1e2d3c-ab12c",
    namespace="team",
    kernel_id="0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
    kernel_name="k8s-a100",
    owner="alice@example.com",
    profile=PROFILES.get("a100"),
    image="img:gpu",
    env={"JPY_SESSION_NAME": "reports/$(HOME)/a.ipynb", "MODE": "spec"},
)
DATA_BUILD = replace(
    GPU_BUILD,
    name="kernel-0f1e2d3c-zz999",
    kernel_name="k8s-data",
    profile=PROFILES.get("data"),
    image="hub:1",
    env={},
    client="standalone",
    gated=False,
)
KEY = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs"


def test_gpu_kernel_pod_matches_golden():
    assert make_pod(GPU_BUILD) == golden("kernel_pod_gpu.json", make_pod(GPU_BUILD))


def test_kernel_pod_with_overrides_matches_golden():
    assert make_pod(DATA_BUILD) == golden("kernel_pod_overrides.json", make_pod(DATA_BUILD))


def test_secret_matches_golden():
    info = make_connection_info(DEFAULT_PORTS, KEY.encode(), kernel_name="k8s-a100")
    owned = set_owner(
        make_secret(GPU_BUILD, info, "print('launcher')\n"),
        {"metadata": {"name": GPU_BUILD.name, "uid": "uid-1"}},
    )
    assert owned == golden("kernel_secret.json", owned)


def test_pod_meets_restricted_and_mounts_no_token():
    pod = make_pod(GPU_BUILD)
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctr = spec["containers"][0]
    assert ctr["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert not any(k in spec for k in ("hostNetwork", "hostPID", "hostIPC"))
    assert not any(p.get("hostPort") for p in ctr["ports"])


def test_key_is_only_in_the_secret():
    pub, sec = zmq.curve_keypair()
    info = make_connection_info(DEFAULT_PORTS, KEY, curve_publickey=pub, curve_secretkey=sec)
    pod = make_pod(replace(GPU_BUILD, server_id="0123456789abcdef0123456789abcdef"))
    pod_text = json.dumps(pod)
    assert KEY not in pod_text and sec.decode() not in pod_text and pub.decode() not in pod_text
    secret = make_secret(GPU_BUILD, info, "")
    assert read_connection_secret(secret)["key"] == KEY
    assert read_connection_secret(secret)["curve_secretkey"] == sec.decode()
    vol = next(v for v in make_pod(GPU_BUILD)["spec"]["volumes"] if v["name"] == "connection")
    assert vol["secret"] == {"secretName": GPU_BUILD.name, "defaultMode": SECRET_MODE}
    assert SECRET_MODE == 0o400
    assert set(secret["data"]) == {CONNECTION_KEY, LAUNCHER_KEY}
    assert secret["immutable"] is True


def test_pod_ip_comes_from_the_downward_api():
    env = make_pod(GPU_BUILD)["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    names = [e["name"] for e in env]
    assert len(names) == len(set(names))


def test_gate_and_ungate():
    assert make_pod(GPU_BUILD)["spec"]["schedulingGates"] == [{"name": SCHEDULING_GATE}]
    assert "schedulingGates" not in make_pod(DATA_BUILD)["spec"]
    # A strategic merge patch that deletes our gate only: Kueue's stays until it admits.
    assert ungate_patch() == {
        "spec": {"schedulingGates": [{"$patch": "delete", "name": SCHEDULING_GATE}]}
    }


def test_restart_policy_is_always_even_with_overrides():
    assert make_pod(GPU_BUILD)["spec"]["restartPolicy"] == "Always"
    spec = make_pod(DATA_BUILD)["spec"]
    assert spec["restartPolicy"] == "Always"
    # overrides written for job pods ("runner") reach the kernel container
    assert {"name": "ds", "mountPath": "/data"} in spec["containers"][0]["volumeMounts"]
    assert len(spec["containers"]) == 1


def test_labels_find_the_kernel_again():
    meta = make_pod(GPU_BUILD)["metadata"]
    for key, value in meta["labels"].items():
        assert is_label_value(value), (key, value)
    assert meta["labels"]["jupyter-k8s.io/kernel-id"] == GPU_BUILD.kernel_id
    assert meta["annotations"]["jupyter-k8s.io/kernelspec"] == "k8s-a100"
    assert meta["annotations"]["jupyter-k8s.io/username"] == "alice@example.com"
    assert owner_selector("alice@example.com").startswith(KERNEL_SELECTOR + ",")
    assert is_label(GPU_BUILD.name)


def test_dollar_expansion_is_escaped():
    assert escape_expansion("a$(B)c") == "a$$(B)c"
    env = {e["name"]: e.get("value") for e in make_pod(GPU_BUILD)["spec"]["containers"][0]["env"]}
    assert env["JPY_SESSION_NAME"] == "reports/$$(HOME)/a.ipynb"
    assert env["MODE"] == "spec"  # the kernelspec's env wins over the profile's


def test_connection_info_shape():
    info = make_connection_info(DEFAULT_PORTS, b"k", kernel_name="k8s-x")
    assert info["ip"] == "0.0.0.0" and info["transport"] == "tcp" and info["key"] == "k"
    assert {info[p] for p in DEFAULT_PORTS} == set(DEFAULT_PORTS.values())
    assert "curve_publickey" not in info


@pytest.mark.parametrize(
    "change",
    [
        {"ports": {"shell_port": 1}},
        {"ports": dict.fromkeys(DEFAULT_PORTS, 5)},
        {"argv": ()},
        {"client": "robot"},
        {"shared_volume": {"persistentVolumeClaim": {"claimName": "home"}}},
        {"shared_mount_path": "/home/jovyan"},
        {"working_dir": "/elsewhere"},
        {
            "shared_volume": {"persistentVolumeClaim": {"claimName": "home"}},
            "shared_mount_path": "/home/jovyan",
            "working_dir": "/home/jovyanother",
        },
    ],
)
def test_bad_builds_are_refused(change):
    with pytest.raises(ValueError):
        replace(GPU_BUILD, **change)


def test_owner_needs_uid():
    with pytest.raises(ValueError):
        set_owner({"metadata": {}}, {"metadata": {"name": "p"}})


def test_read_connection_secret_rejects_junk():
    with pytest.raises(ValueError):
        read_connection_secret({"data": {}})
    bad = {"data": {CONNECTION_KEY: base64.b64encode(b"[1]").decode()}}
    with pytest.raises(ValueError):
        read_connection_secret(bad)


def test_shared_files_are_mounted_and_the_kernel_starts_in_its_notebooks_folder():
    build = replace(
        GPU_BUILD,
        shared_volume={"persistentVolumeClaim": {"claimName": "home"}},
        shared_mount_path="/home/jovyan",
        working_dir="/home/jovyan/project/a",
    )
    pod = make_pod(build)
    (kernel,) = pod["spec"]["containers"]
    assert kernel["workingDir"] == "/home/jovyan/project/a"
    assert {"name": "shared", "mountPath": "/home/jovyan"} in kernel["volumeMounts"]
    assert {"name": "shared", "persistentVolumeClaim": {"claimName": "home"}} in pod["spec"][
        "volumes"
    ]
    # Without shared files: no mount, the image's working directory.
    plain = make_pod(GPU_BUILD)
    assert "workingDir" not in plain["spec"]["containers"][0]
    assert all(v["name"] != "shared" for v in plain["spec"]["volumes"])


@pytest.mark.parametrize(
    ("cwd", "root", "expected"),
    [
        ("/srv/root/project/a", "/srv/root", "/home/jovyan/project/a"),
        ("/srv/root", "/srv/root", "/home/jovyan"),
        ("/elsewhere/x", "/srv/root", "/home/jovyan"),
        ("/srv/root/../etc", "/srv/root", "/home/jovyan"),
        (None, "/srv/root", "/home/jovyan"),
        ("/srv/root/a", None, "/home/jovyan"),
    ],
)
def test_working_dir_follows_the_notebook_inside_the_root_only(cwd, root, expected):
    assert working_dir_for(cwd, root, "/home/jovyan") == expected


# -- reading back: whose object, and what it says ------------------------------------------------


def _obj(owner_label_value, username, **ann):
    return {
        "metadata": {
            "name": "kernel-x",
            "labels": {
                "app.kubernetes.io/managed-by": "jupyter-k8s",
                "app.kubernetes.io/component": "kernel",
                "jupyter-k8s.io/owner": owner_label_value,
            },
            "annotations": {"jupyter-k8s.io/username": username, **ann},
        }
    }


def test_is_mine_needs_the_label_and_the_exact_username():
    from jupyter_k8s.kernels.objects import is_kernel_pod, is_mine
    from jupyter_k8s.names import owner_label

    for user in ("alice", "alice@example.com", "user-a-example.com-42788843"):
        assert is_mine(_obj(owner_label(user), user), user)
    # the label of a user, another name: never theirs (a forged or colliding object)
    assert not is_mine(_obj(owner_label("alice"), "mallory"), "alice")
    assert not is_mine(_obj(owner_label("alice"), "Alice"), "alice")
    # the name, another label
    assert not is_mine(_obj(owner_label("bob"), "alice"), "alice")
    # the pod and Secret made for a user are theirs
    pod, secret = make_pod(GPU_BUILD), make_secret(GPU_BUILD, {"key": "k"}, "")
    assert is_mine(pod, GPU_BUILD.owner) and is_mine(secret, GPU_BUILD.owner)
    assert is_kernel_pod(pod) and not is_mine(pod, "alice")
    # junk read back is nobody's
    for junk in (
        None,
        {},
        {"metadata": None},
        {"metadata": {"labels": [], "annotations": "x"}},
        _obj(owner_label("alice"), ["alice"]),
        _obj(owner_label("alice"), "alice" + " " * 2000),
    ):
        assert not is_mine(junk, "alice")
    assert not is_mine(_obj("", ""), "")


def test_values_read_back_are_checked():
    from jupyter_k8s.k8s.pods import pod_ip
    from jupyter_k8s.kernels.objects import (
        annotation,
        client_of,
        kernel_id_of,
        kernel_name_of,
        server_id_of,
    )

    pod = make_pod(replace(GPU_BUILD, server_id="0123456789abcdef0123456789abcdef"))
    assert kernel_id_of(pod) == GPU_BUILD.kernel_id
    assert kernel_name_of(pod) == "k8s-a100"
    assert client_of(pod) == "server"
    assert server_id_of(pod) == "0123456789abcdef0123456789abcdef"
    ann = pod["metadata"]["annotations"]
    ann["jupyter-k8s.io/kernelspec"] = "../../etc/passwd"
    ann["jupyter-k8s.io/client"] = "admin"
    ann["jupyter-k8s.io/server-id"] = "x" * 500
    ann["jupyter-k8s.io/profile"] = "p" * 5000
    pod["metadata"]["labels"]["jupyter-k8s.io/kernel-id"] = "a/b"
    assert kernel_name_of(pod) is None and client_of(pod) is None
    assert server_id_of(pod) is None and kernel_id_of(pod) is None
    assert annotation(pod, "jupyter-k8s.io/profile") is None
    for ip, expected in (
        ("10.1.2.3", "10.1.2.3"),
        ("fd00::1", "fd00::1"),
        ("10.1.2.3; rm -rf /", None),
        ("example.com", None),
        (17, None),
        (None, None),
    ):
        assert pod_ip({"status": {"podIP": ip}}) == expected
    assert pod_ip({"status": "x"}) is None and pod_ip(None) is None


def test_a_server_id_is_written_on_the_pod_only_when_valid():
    sid = "0123456789abcdef0123456789abcdef"
    pod = make_pod(replace(GPU_BUILD, server_id=sid))
    assert pod["metadata"]["annotations"]["jupyter-k8s.io/server-id"] == sid
    assert "jupyter-k8s.io/server-id" not in make_pod(GPU_BUILD)["metadata"]["annotations"]
    with pytest.raises(ValueError, match="server id"):
        replace(GPU_BUILD, server_id="Not An Id")


def test_heartbeat_and_claim_patches():
    from jupyter_k8s.kernels.objects import claim_patch, heartbeat_patch

    sid = "0123456789abcdef0123456789abcdef"
    assert heartbeat_patch("2026-01-01T00:00:00Z", sid) == [
        {"op": "test", "path": "/metadata/annotations/jupyter-k8s.io~1server-id", "value": sid},
        {
            "op": "add",
            "path": "/metadata/annotations/jupyter-k8s.io~1client-heartbeat",
            "value": "2026-01-01T00:00:00Z",
        },
    ]
    assert claim_patch(sid, "2026-01-01T00:00:00Z", "42") == {
        "metadata": {
            "resourceVersion": "42",
            "annotations": {
                "jupyter-k8s.io/server-id": sid,
                "jupyter-k8s.io/client-heartbeat": "2026-01-01T00:00:00Z",
            },
        }
    }


def _secret_with(**fields):
    info = {**make_connection_info(DEFAULT_PORTS, KEY), **fields}
    return {"data": {CONNECTION_KEY: base64.b64encode(json.dumps(info).encode()).decode()}}


@pytest.mark.parametrize(
    "fields",
    [
        {"shell_port": "52700"},
        {"shell_port": True},
        {"shell_port": 0},
        {"hb_port": 70000},
        {"hb_port": 52700},  # two ports alike
        {"key": 12},
        {"key": "k" * 5000},
        {"signature_scheme": "none"},
        {"transport": "ipc"},
        {"curve_publickey": "x" * 40},  # one key without the other
        {"curve_publickey": "x" * 39, "curve_secretkey": "y" * 39},
    ],
)
def test_read_connection_secret_checks_every_field(fields):
    with pytest.raises(ValueError):
        read_connection_secret(_secret_with(**fields))


def test_read_connection_secret_keeps_only_what_a_connection_needs():
    info = read_connection_secret(_secret_with(ip="1.2.3.4", extra="x", kernel_name="k8s-cpu"))
    assert info == {
        "transport": "tcp",
        **DEFAULT_PORTS,
        "key": KEY,
        "signature_scheme": "hmac-sha256",
        "kernel_name": "k8s-cpu",
    }
    huge = {"data": {CONNECTION_KEY: "A" * 100_000}}
    with pytest.raises(ValueError, match="too large"):
        read_connection_secret(huge)
    with pytest.raises(ValueError):
        read_connection_secret({"data": {CONNECTION_KEY: "not base64!"}})
