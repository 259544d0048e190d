"""DKIM signing keys: one RSA-2048 and one Ed25519 key per domain, in the data directory.

Implementation notes:
- Keys live in `DATA/dkim/<domain>/<selector>.key` (mode 0600): the RSA key as PKCS#8 PEM,
  the Ed25519 key as the base64 of its 32-byte seed, the form dkimpy signs with.
- Selectors carry the year and month of creation (`mf202611r`, `mf202611e`), so a later
  rotation can publish new records beside the old ones.
- Creating keys is idempotent: a domain whose selectors are recorded and whose files exist
  keeps them.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mfserver.tls import write_private


@dataclass(frozen=True)
class DkimKey:
    selector: str
    algorithm: str  # "rsa" | "ed25519"
    private_key: Path
    public_key_b64: str

    def txt_record(self) -> str:
        return f"v=DKIM1; k={self.algorithm}; p={self.public_key_b64}"


def key_dir(data_dir: Path, domain: str) -> Path:
    return data_dir / "dkim" / domain


def _public_rsa(path: Path) -> str:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _public_ed25519(path: Path) -> str:
    seed = base64.b64decode(path.read_bytes().strip())
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_keys(data_dir: Path, domain: str, rsa_selector: str | None,
              ed25519_selector: str | None) -> list[DkimKey]:
    """The domain's keys whose files exist, RSA first."""
    keys = []
    directory = key_dir(data_dir, domain)
    if rsa_selector and (directory / f"{rsa_selector}.key").exists():
        path = directory / f"{rsa_selector}.key"
        keys.append(DkimKey(rsa_selector, "rsa", path, _public_rsa(path)))
    if ed25519_selector and (directory / f"{ed25519_selector}.key").exists():
        path = directory / f"{ed25519_selector}.key"
        keys.append(DkimKey(ed25519_selector, "ed25519", path, _public_ed25519(path)))
    return keys


def create_keys(data_dir: Path, domain: str, *, now: float | None = None) -> list[DkimKey]:
    """Make a new RSA-2048 and Ed25519 key pair for `domain` and return both."""
    stamp = time.strftime("%Y%m", time.gmtime(now))
    directory = key_dir(data_dir, domain)
    rsa_selector, ed_selector = f"mf{stamp}r", f"mf{stamp}e"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(directory / f"{rsa_selector}.key", rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ed_key = ed25519.Ed25519PrivateKey.generate()
    seed = ed_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    write_private(directory / f"{ed_selector}.key", base64.b64encode(seed) + b"\n")
    return load_keys(data_dir, domain, rsa_selector, ed_selector)
