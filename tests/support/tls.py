"""A throwaway certificate authority for tests that speak TLS to real servers.

    files = make_test_pki(tmp_path)          # CA, a server certificate, a client certificate
    mongod --tlsCertificateKeyFile files.server_pem --tlsCAFile files.ca ...

The server certificate names 127.0.0.1, ::1 and localhost; keys are EC P-256, valid
for a day. Nothing here is fit for production: it exists so that a test can prove a
client trusts exactly the CA it was given.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = ("localhost",)
SERVER_ADDRESSES = ("127.0.0.1", "::1")
VALID_FOR = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TestPki:
    """PEM files: `ca` (certificate only), and for the server and a client each the
    certificate, the key, and both in one file (what mongod and PyMongo take)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    ca: Path
    server_cert: Path
    server_key: Path
    server_pem: Path
    client_cert: Path
    client_key: Path
    client_pem: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Berdaya tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def make_ca(common_name: str = "Berdaya test CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def issue(ca: Issued, common_name: str, *, server: bool) -> Issued:
    """A leaf certificate signed by `ca`: for a server (names 127.0.0.1, ::1 and
    localhost; usable as a client too, as a replica set member's is) or a client."""
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        alternative_names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
        alternative_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_ADDRESSES]
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def certificate_pem(issued: Issued) -> bytes:
    return issued.certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(issued: Issued) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def make_test_pki(directory: Path) -> TestPki:
    """A fresh CA with a server and a client certificate, written to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    server = issue(ca, "localhost", server=True)
    client = issue(ca, "berdaya-test-client", server=False)
    return TestPki(
        ca=_write(directory / "ca.pem", certificate_pem(ca)),
        server_cert=_write(directory / "server.crt", certificate_pem(server)),
        server_key=_write(directory / "server.key", key_pem(server)),
        server_pem=_write(directory / "server.pem", certificate_pem(server) + key_pem(server)),
        client_cert=_write(directory / "client.crt", certificate_pem(client)),
        client_key=_write(directory / "client.key", key_pem(client)),
        client_pem=_write(directory / "client.pem", certificate_pem(client) + key_pem(client)),
    )
