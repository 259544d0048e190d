"""TLS for outgoing connections: opportunistic (any certificate) and verified (name and CA).

Implementation notes:
- Opportunistic STARTTLS (RFC 3207, RFC 7435) encrypts against passive eavesdroppers and
  accepts any certificate: most MX hosts have none that would verify, and refusing them would
  mean sending in plain text instead. The server name is still sent (SNI).
- Verified TLS checks the certificate chain against the trust root and the name against the
  host we meant to reach (service_identity via Twisted's `optionsForClientTLS`). It is used for
  a smarthost (credentials go over it) and for MX hosts under an MTA-STS enforce policy.
- The trust root is the system's, or the PEM file `[outbound] ca_file` (tests: a trustme CA).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from zope.interface import implementer

Creator = Callable[[str], Any]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@implementer(IOpenSSLClientConnectionCreator)
class _Unverified:
    def __init__(self, context: SSL.Context, host: str) -> None:
        self._context = context
        self._host = host

    def clientConnectionForTLS(self, tls_protocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tls_protocol)
        if self._host and not _is_address(self._host):
            connection.set_tlsext_host_name(self._host.encode("idna"))
        return connection


def opportunistic() -> Creator:
    """Server name -> a connection creator that encrypts without checking the certificate."""
    context = ssl.CertificateOptions().getContext()
    return lambda host: _Unverified(context, host)


def trust_root(ca_file: str | None) -> Any:
    """The system's trust store, or the certificates of a PEM file."""
    if not ca_file:
        return ssl.platformTrust()
    text = Path(ca_file).read_text()
    marker = "-----END CERTIFICATE-----"
    certificates = [ssl.Certificate.loadPEM(part + marker)
                    for part in text.split(marker) if "BEGIN CERTIFICATE" in part]
    if not certificates:
        raise ValueError(f"{ca_file}: no PEM certificates")
    return ssl.trustRootFromCertificates(certificates)


def verified(root: Any) -> Creator:
    """Server name -> a connection creator that verifies the chain and the name."""
    return lambda host: ssl.optionsForClientTLS(host, trustRoot=root)
