"""Certificates for servers under test: a trustme authority and a leaf for the host name,
written where the server's `[tls]` section points."""

from __future__ import annotations

from pathlib import Path

import trustme


def server_certificate(base: Path, host: str) -> tuple[trustme.CA, dict[str, str]]:
    """A fresh authority and a certificate for `host`, 127.0.0.1 and localhost (common name
    `host`: fetchmail reads it) in `base`: server.key, cert.pem (the chain) and ca.pem.
    Gives the authority and the `[tls]` section that uses them."""
    authority = trustme.CA()
    leaf = authority.issue_cert(host, "127.0.0.1", "localhost", common_name=host)
    leaf.private_key_pem.write_to_path(str(base / "server.key"))
    (base / "cert.pem").write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    authority.cert_pem.write_to_path(str(base / "ca.pem"))
    return authority, {"certificate": str(base / "cert.pem"),
                       "private_key": str(base / "server.key")}
