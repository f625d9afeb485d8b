"""Pure pieces of the local cluster: build module files, certificates, allocators, images."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from jupyter_k8s.devcluster.agent.node import GPUAllocator, IPAllocator
from jupyter_k8s.devcluster.agent.pods import image_problem
from jupyter_k8s.devcluster.build import STAGING_MODULES, Versions, etcd_go_mod, kube_go_mod
from jupyter_k8s.devcluster.pki import PKI, kubeconfig


def test_kube_go_mod_pins_every_staging_module():
    mod = kube_go_mod(Versions("v1.37.2", "v3.6.16"))
    assert "require k8s.io/kubernetes v1.37.2" in mod
    assert len(STAGING_MODULES) == 33
    for name in STAGING_MODULES:
        assert f"k8s.io/{name} => k8s.io/{name} v0.37.2" in mod
    for cmd in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"k8s.io/kubernetes/cmd/{cmd}" in mod


def test_etcd_go_mod():
    assert "require go.etcd.io/etcd/server/v3 v3.6.16" in etcd_go_mod(Versions())


def test_cache_key_names_both_versions():
    assert Versions("v1.36.3", "v3.6.13").key == "k8s-v1.36.3_etcd-v3.6.13"
    assert Versions("v1.36.3").staging == "v0.36.3"


def _subject(cert_path: Path) -> tuple[str, list[str]]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return cn, orgs


def test_node_identity_certificate(tmp_path: Path):
    pki = PKI(tmp_path / "pki")
    pair = pki.issue("node", "system:node:n1", ("system:nodes",))
    assert _subject(pair.cert) == ("system:node:n1", ["system:nodes"])
    assert oct(pair.key.stat().st_mode & 0o777) == "0o600"
    # Issued once, then reused: kubeconfigs handed out stay valid.
    assert pki.issue("node", "system:node:n1", ("system:nodes",)).cert.read_bytes() == (
        pair.cert.read_bytes()
    )


def test_serving_certificate_has_loopback_san(tmp_path: Path):
    pki = PKI(tmp_path)
    pair = pki.issue("srv", "kube-apiserver", server=True, client=False, ips=("127.0.0.1",))
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_kubeconfig_with_token(tmp_path: Path):
    pki = PKI(tmp_path)
    pki.ensure_ca()
    cfg = kubeconfig("https://127.0.0.1:6443", pki.ca.cert, "sa", token="abc", namespace="ns")
    assert cfg["users"][0]["user"] == {"token": "abc"}
    assert cfg["contexts"][0]["context"]["namespace"] == "ns"


def test_ip_allocator_unique_and_reuses_wanted():
    ips = IPAllocator()
    a, b = ips.allocate("a"), ips.allocate("b")
    assert a != b and a.startswith("127.") and b.startswith("127.")
    assert ips.allocate("a") == a
    assert ips.allocate("c", wanted=a) != a  # taken: not handed out twice
    ips.release("a")
    assert ips.allocate("d", wanted=a) == a


def test_gpu_allocator():
    gpus = GPUAllocator(2)
    assert gpus.allocate("a", 1) == [0]
    assert gpus.allocate("b", 1) == [1]
    assert gpus.allocate("c", 1) == []  # none free
    gpus.release("a")
    assert gpus.allocate("c", 1) == [0]
    assert gpus.allocate("z", 0) == []


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("python:3.11-slim", None),
        ("quay.io/jupyter/scipy-notebook:2024-05-27", None),
        ("localhost:5000/team/img@sha256:" + "a" * 64, None),
        ("UPPER/case", "InvalidImageName"),
        ("bad image", "InvalidImageName"),
        ("", "InvalidImageName"),
        ("registry.invalid/nothing:1", "ErrImagePull"),
    ],
)
def test_image_problem(image: str, reason: str | None):
    problem = image_problem(image)
    assert (problem[0] if problem else None) == reason
