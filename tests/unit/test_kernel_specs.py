"""Kernelspecs per profile: served from memory by a wrapped KernelSpecManager, or installed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from jupyter_k8s.kernels.kernelspecs import (
    LOGO_FILES,
    install_kernelspec,
    is_gpu_kernel,
    kernel_dict,
    kernelspec_name,
    resource_dir,
    server_kernelspecs,
    wrap_kernel_spec_manager,
)
from jupyter_k8s.profiles import load_profiles

PROFILES = load_profiles(None, "img:1")


def test_kernel_dict_of_the_gpu_profile():
    spec = kernel_dict(PROFILES.get("gpu"))
    assert spec["display_name"] == "Python 3 · Kubernetes · GPU"
    assert spec["interrupt_mode"] == "message"
    assert spec["argv"][-2:] == ["-f", "{connection_file}"]
    prov = spec["metadata"]["kernel_provisioner"]
    assert prov == {"provisioner_name": "k8s-pod", "config": {"profile": "gpu"}}
    assert spec["metadata"]["supported_encryption"] == ["curve"]
    assert spec["metadata"]["jupyter_k8s"]["gpus"] == 1
    assert "supported_encryption" not in kernel_dict(PROFILES.get("gpu"), curve=False)["metadata"]


def test_embedded_profile_for_standalone_clients():
    spec = kernel_dict(
        PROFILES.get("cpu"),
        settings={"kubeconfig": "/k", "namespace": "ns", "context": None},
        embed_profile=True,
    )
    config = spec["metadata"]["kernel_provisioner"]["config"]
    assert config["kubeconfig"] == "/k" and config["namespace"] == "ns"
    assert "context" not in config
    assert config["profile_spec"]["name"] == "cpu" and config["profile_spec"]["image"] == "img:1"
    # the embedded profile loads back into the same profile
    again = load_profiles([config["profile_spec"]], None).default
    assert again.model_dump(exclude={"default"}) == PROFILES.get("cpu").model_dump(
        exclude={"default"}
    )


def test_logos_ship_in_the_package():
    for name in LOGO_FILES:
        assert (Path(resource_dir()) / name).stat().st_size > 100


def test_wrapped_manager_serves_profiles_and_files(tmp_path: Path):
    kernels = tmp_path / "kernels" / "mine"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps({"argv": ["x"], "display_name": "Mine", "language": "python"})
    )
    # a file spec with the same name as a served one loses
    clash = tmp_path / "kernels" / "k8s-cpu"
    clash.mkdir()
    (clash / "kernel.json").write_text(json.dumps({"argv": ["y"], "display_name": "Old"}))
    inner = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    specs = server_kernelspecs(PROFILES)
    ksm = wrap_kernel_spec_manager(inner, lambda: specs)
    assert isinstance(ksm, KernelSpecManager)
    found = ksm.find_kernel_specs()
    assert {"mine", "k8s-cpu", "k8s-gpu"} <= set(found)
    assert ksm.get_kernel_spec("k8s-gpu").display_name == "Python 3 · Kubernetes · GPU"
    assert ksm.get_kernel_spec("K8S-CPU").display_name == "Python 3 · Kubernetes · CPU"
    assert ksm.get_kernel_spec("mine").display_name == "Mine"
    everything = ksm.get_all_specs()
    assert everything["k8s-cpu"]["spec"]["display_name"].endswith("CPU")
    assert everything["k8s-cpu"]["resource_dir"] == resource_dir()
    assert is_gpu_kernel(ksm.get_kernel_spec("k8s-gpu"))
    assert not is_gpu_kernel(ksm.get_kernel_spec("k8s-cpu"))
    try:
        ksm.get_kernel_spec("k8s-nope")
    except NoSuchKernel:
        pass
    else:
        raise AssertionError("unknown spec found")
    # wrapping again only swaps the specs
    assert wrap_kernel_spec_manager(ksm, lambda: {}) is ksm
    assert ksm.find_kernel_specs()["k8s-cpu"] == str(clash)


def test_install_writes_a_kernel_dir(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    where = install_kernelspec(PROFILES.get("cpu"), {"namespace": "ns"}, user=True)
    assert Path(where) == tmp_path / "data" / "kernels" / kernelspec_name("cpu")
    spec = json.loads((Path(where) / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["config"]["namespace"] == "ns"
    assert sorted(os.listdir(where)) == sorted(["kernel.json", *LOGO_FILES])
    prefix = install_kernelspec(PROFILES.get("gpu"), {}, prefix=str(tmp_path / "p"))
    assert Path(prefix) == tmp_path / "p" / "share" / "jupyter" / "kernels" / "k8s-gpu"


def test_install_from_config_carries_the_orphan_threshold(tmp_path: Path, monkeypatch):
    """c.JupyterK8s.kernel_orphan_seconds reaches standalone clients through kernel.json: the
    server and papermill then agree on when a pod is abandoned."""
    from types import SimpleNamespace

    from jupyter_k8s.kernels.kernelspecs import install_from_config

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    conf = SimpleNamespace(
        profiles=None,
        default_image="img:1",
        kubeconfig=None,
        context=None,
        namespace="ns",
        owner="dave",
        kernel_start_timeout=600.0,
        kernel_orphan_seconds=20.0,
        kernel_curve=True,
    )
    ((name, where),) = install_from_config(conf, ["cpu"])
    assert name == "k8s-cpu"
    config = json.loads((Path(where) / "kernel.json").read_text())["metadata"][
        "kernel_provisioner"
    ]["config"]
    assert config["orphan_seconds"] == 20.0 and config["namespace"] == "ns"
