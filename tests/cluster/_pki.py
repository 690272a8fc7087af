"""Throwaway credentials for a test control plane.

A real kube-apiserver insists on TLS for its secure port and on a service-account key,
and our tests want two identities: an admin that bypasses RBAC (group
``system:masters``) and an unprivileged user whose requests RBAC must judge. All of it
is generated fresh per test session with the ``cryptography`` package and written into
the session's scratch directory; nothing here is ever meant to be secret.

The CA is ECDSA P-256, like envtest's (small and fast to make); the service-account key
is RSA because ``--service-account-signing-key-file`` wants an RSA or ECDSA key and RSA
is what every kubeconfig consumer handles.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "Identity", "CERT_USER", "make_pki", "write_token_file", "write_kubeconfig"]

_VALIDITY = datetime.timedelta(days=2)
CERT_USER = "cert-admin"


@dataclass(frozen=True, slots=True)
class Pki:
    """Paths of the generated PEM files."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True, slots=True)
class Identity:
    """A bearer-token user, as written into ``--token-auth-file``."""

    name: str
    token: str
    groups: tuple[str, ...] = ()

    @classmethod
    def random(cls, name: str, /, *, groups: tuple[str, ...] = ()) -> Identity:
        return cls(name, secrets.token_urlsafe(24), groups)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, /) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_pki(directory: Path, /) -> Pki:
    """Create a CA, a serving certificate for 127.0.0.1/localhost, a client certificate for
    `CERT_USER` in system:masters (kubeconfigs of kind/kubeadm look like this) and an SA key."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    # Backdate a little: the apiserver and the client may disagree on "now" by a second.
    not_before = now - datetime.timedelta(minutes=5)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tiphys-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(subject: x509.Name, usage: x509.ObjectIdentifier,
              san: list[x509.GeneralName] | None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    serving_cert, serving_key = issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))])
    # The apiserver maps a client certificate's CN to the user and each O to a group.
    client_cert, client_key = issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_USER),
                   x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")]),
        ExtendedKeyUsageOID.CLIENT_AUTH, None)

    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "serving.crt",
        serving_key=directory / "serving.key",
        sa_key=directory / "sa.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.serving_key, serving_key)
    pki.client_cert.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.client_key, client_key)
    _write_key(pki.sa_key, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return pki


def write_token_file(path: Path, identities: tuple[Identity, ...], /) -> None:
    """Write ``--token-auth-file``: ``token,user,uid,"group1,group2"`` per line."""
    lines = []
    for ident in identities:
        if "," in ident.name or '"' in ident.name:
            raise ValueError(f"token file: user name {ident.name!r} must not contain ',' or '\"'")
        lines.append(f'{ident.token},{ident.name},{ident.name}-uid,"{",".join(ident.groups)}"')
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def write_kubeconfig(path: Path, /, *, server: str, ca_cert: Path, identity: Identity | None = None,
                     client_cert: tuple[Path, Path] | None = None) -> None:
    """Write a one-context kubeconfig with a bearer token or a client certificate and key.

    JSON is valid YAML, so no YAML writer is needed.
    """
    import json

    if (identity is None) == (client_cert is None):
        raise ValueError("write_kubeconfig: give exactly one of identity= and client_cert=")
    if identity is not None:
        user_name, user = identity.name, {"token": identity.token}
    else:
        assert client_cert is not None
        user_name = CERT_USER
        user = {"client-certificate": str(client_cert[0]), "client-key": str(client_cert[1])}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tiphys-test", "cluster": {
            "server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": "tiphys-test", "context": {
            "cluster": "tiphys-test", "user": user_name, "namespace": "default"}}],
        "current-context": "tiphys-test",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
