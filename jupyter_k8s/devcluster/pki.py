"""Certificates of the local cluster: one CA, serving certs, and client certs per identity.

Kubernetes identifies x509 clients by the certificate's CN (user) and O (groups), so each
component gets its own certificate: the admin in system:masters, the node agent as
system:node:<name> in system:nodes (so the Node authorizer limits it to its own pods), the
controller manager and scheduler under their well-known names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


def _write_key(key: PrivateKeyTypes, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


class PKI:
    """Creates (once) and finds the certificates under one directory."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)

    @property
    def ca(self) -> CertPair:
        return CertPair(self.dir / "ca.crt", self.dir / "ca.key")

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def ensure_ca(self) -> CertPair:
        if self.ca.cert.exists() and self.ca.key.exists():
            return self.ca
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = _name("jupyter-k8s-dev-ca")
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + 10 * VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_key(key, self.ca.key)
        self.ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return self.ca

    def ensure_service_account_keys(self) -> None:
        if self.sa_key.exists() and self.sa_pub.exists():
            return
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(key, self.sa_key)
        self.sa_pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def issue(
        self,
        name: str,
        cn: str,
        orgs: tuple[str, ...] = (),
        server: bool = False,
        client: bool = True,
        ips: tuple[str, ...] = (),
        dns: tuple[str, ...] = (),
    ) -> CertPair:
        """A leaf certificate signed by the CA, written as <name>.crt/.key (reused if present)."""
        pair = CertPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        if pair.cert.exists() and pair.key.exists():
            return pair
        ca_pair = self.ensure_ca()
        ca_key = serialization.load_pem_private_key(ca_pair.key.read_bytes(), None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):  # ensure_ca writes an EC key
            raise ValueError(f"{ca_pair.key} is not the CA's EC private key")
        ca_cert = x509.load_pem_x509_certificate(ca_pair.cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, orgs))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(key, pair.key)
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return pair


def kubeconfig(
    server: str,
    ca: Path,
    user: str,
    cert: CertPair | None = None,
    token: str | None = None,
    namespace: str | None = None,
    cluster: str = "jupyter-k8s-dev",
) -> dict:
    """A kubeconfig dict with one cluster, one user and one context named after the user."""
    import base64

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    auth: dict[str, str] = {}
    if cert is not None:
        auth = {"client-certificate-data": b64(cert.cert), "client-key-data": b64(cert.key)}
    elif token is not None:
        auth = {"token": token}
    context: dict[str, str] = {"cluster": cluster, "user": user}
    if namespace:
        context["namespace"] = namespace
    ctx_name = f"{cluster}-{user}" if user != "admin" else cluster
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}
        ],
        "users": [{"name": user, "user": auth}],
        "contexts": [{"name": ctx_name, "context": context}],
        "current-context": ctx_name,
    }
