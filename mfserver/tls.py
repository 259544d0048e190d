"""Certificates: the self-signed fallback, checks for `mfserver check`, and TLS contexts.

Implementation notes:
- With no certificate configured, a self-signed one for `server.hostname` is made once in
  `DATA/tls/` and reused; it is made again when the host name changes or it is about to expire.
  Whoever calls `ensure_certificate` must warn loudly when it reports `self_signed`.
- Private keys are written with mode 0600 and never logged.
- TLS 1.2 is the floor by default; the cipher choice is OpenSSL's, through Twisted's
  `CertificateOptions` (which also turns off compression and renegotiation).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SELF_SIGNED_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class CertificateFiles:
    certificate: Path
    private_key: Path
    self_signed: bool
    created: bool = False


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _self_signed_is_current(certificate: Path, hostname: str) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    except (OSError, ValueError):
        return False
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return False
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return hostname in names.value.get_values_for_type(x509.DNSName)


def make_self_signed(hostname: str, certificate: Path, private_key: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if hostname != "localhost":
        alt_names.append(x509.DNSName("localhost"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(private_key, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_certificate(data_dir: Path, hostname: str, certificate: str = "",
                       private_key: str = "") -> CertificateFiles:
    """The configured certificate, or a current self-signed one for `hostname`."""
    if certificate:
        return CertificateFiles(Path(certificate), Path(private_key), self_signed=False)
    directory = data_dir / "tls"
    cert_path, key_path = directory / "selfsigned.pem", directory / "selfsigned.key"
    if _self_signed_is_current(cert_path, hostname) and key_path.exists():
        return CertificateFiles(cert_path, key_path, self_signed=True)
    make_self_signed(hostname, cert_path, key_path)
    return CertificateFiles(cert_path, key_path, self_signed=True, created=True)


def certificate_problems(files: CertificateFiles, hostname: str) -> list[str]:
    """What is wrong with a certificate and key pair, in words for an admin (empty if fine)."""
    try:
        chain = x509.load_pem_x509_certificates(files.certificate.read_bytes())
    except OSError as exc:
        return [f"{files.certificate}: cannot read: {exc.strerror}"]
    except ValueError:
        return [f"{files.certificate}: not a PEM certificate"]
    try:
        key = serialization.load_pem_private_key(files.private_key.read_bytes(), None)
    except OSError as exc:
        return [f"{files.private_key}: cannot read: {exc.strerror}"]
    except (ValueError, TypeError):
        return [f"{files.private_key}: not an unencrypted PEM private key"]
    leaf = chain[0]
    problems = []
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (leaf.public_key().public_bytes(serialization.Encoding.DER, public)
            != key.public_key().public_bytes(serialization.Encoding.DER, public)):
        problems.append(f"{files.private_key}: does not belong to {files.certificate}")
    now = datetime.datetime.now(datetime.UTC)
    if leaf.not_valid_after_utc < now:
        problems.append(f"{files.certificate}: expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    elif leaf.not_valid_before_utc > now:
        problems.append(f"{files.certificate}: not valid before "
                        f"{leaf.not_valid_before_utc:%Y-%m-%d}")
    try:
        names = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if not any(_name_matches(pattern, hostname) for pattern in names):
        problems.append(f"{files.certificate}: not valid for {hostname} "
                        f"(names: {', '.join(names) or 'none'})")
    return problems


def _name_matches(pattern: str, hostname: str) -> bool:
    pattern, hostname = pattern.lower(), hostname.lower()
    if pattern.startswith("*."):
        return hostname.count(".") >= 2 and hostname.split(".", 1)[1] == pattern[2:]
    return pattern == hostname


def context_factory(files: CertificateFiles, minimum_version: str = "TLSv1.2"):  # type: ignore[no-untyped-def]
    """A Twisted TLS context factory for the certificate chain and key."""
    from OpenSSL import crypto
    from twisted.internet import ssl

    chain = x509.load_pem_x509_certificates(files.certificate.read_bytes())
    key = crypto.PKey.from_cryptography_key(
        serialization.load_pem_private_key(files.private_key.read_bytes(), None))
    certs = [crypto.X509.from_cryptography(cert) for cert in chain]
    versions = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
    return ssl.CertificateOptions(privateKey=key, certificate=certs[0],
                                  extraCertChain=certs[1:],
                                  raiseMinimumTo=versions[minimum_version])
