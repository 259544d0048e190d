"""DKIM signing of outgoing mail: one RSA-SHA256 and one Ed25519-SHA256 signature (RFC 8463).

Implementation notes:
- Canonicalization is relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4): it survives the header
  refolding and trailing-whitespace changes relays make.
- The signed fields are those of `SIGNED_FIELDS` present in the message, each as often as
  it occurs; From is signed once more than it occurs ("oversigned", RFC 6376 §8.15), so no
  second From can be added without breaking the signature.
- Each signature covers the message as submitted; neither signs the other (RFC 6376
  §3.5 h=: DKIM-Signature fields are not signed). Both are prepended, RSA on top.
- Keys are read from their files on every call (`DkimKey`, mfserver/dkimkeys.py): the RSA key
  is PKCS#8 PEM, the Ed25519 key the base64 of its seed, which is what dkimpy takes.
- A message without a From field cannot be signed (RFC 6376 §5.4): `SigningError`.
"""

from __future__ import annotations

import dkim

from mfserver.dkimkeys import DkimKey
from mfserver.mailauth.headers import split_header

SIGNED_FIELDS = (
    "from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id",
    "in-reply-to", "references", "mime-version", "content-type", "content-transfer-encoding",
    "content-id", "content-description", "content-language", "resent-date", "resent-from",
    "resent-sender", "resent-to", "resent-cc", "resent-message-id", "list-id", "list-help",
    "list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post", "list-owner",
    "list-archive", "autocrypt", "openpgp",
)
OVERSIGNED_FIELDS = ("from",)
_ALGORITHMS = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}


class SigningError(Exception):
    """The message or a key cannot be used for signing."""


def signed_fields(message: bytes) -> list[str]:
    """The `h=` list for `message`: present fields in header order, oversigned ones repeated."""
    names = [field.name for field in split_header(message)[0] if field.name in SIGNED_FIELDS]
    return names + [name for name in OVERSIGNED_FIELDS if name in names]


def sign_message(message: bytes, domain: str, keys: list[DkimKey]) -> bytes:
    """`message` with one DKIM-Signature field per key prepended, the first key on top."""
    include = signed_fields(message)
    if "from" not in include:
        raise SigningError("the message has no From header field")
    signatures = []
    for key in keys:
        if key.algorithm not in _ALGORITHMS:
            raise SigningError(f"unknown DKIM key algorithm {key.algorithm!r}")
        try:
            signatures.append(dkim.sign(
                message, key.selector.encode("ascii"), domain.encode("ascii"),
                key.private_key.read_bytes().strip(),
                signature_algorithm=_ALGORITHMS[key.algorithm],
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[name.encode("ascii") for name in include]))
        except (dkim.DKIMException, OSError, UnicodeError) as exc:
            raise SigningError(f"cannot sign with {key.selector}: {exc}") from exc
    return b"".join(signatures) + message
