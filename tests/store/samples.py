"""Test messages that carry their own checksum, so a partial or altered file is detectable."""

from __future__ import annotations

import hashlib
import os
import re

_CHECK = re.compile(rb"X-Body-SHA256: ([0-9a-f]{64})\r?\n")


def make_message(number: int = 0, size: int = 600, *, subject: str | None = None,
                 eol: bytes = b"\r\n") -> bytes:
    """A message of about `size` bytes whose header holds the SHA-256 of its body."""
    lines = []
    filler = os.urandom(max(size // 2, 8)).hex()
    for start in range(0, len(filler), 70):
        lines.append(filler[start:start + 70].encode())
    body = eol.join(lines) + eol
    digest = hashlib.sha256(body).hexdigest().encode()
    header = eol.join([
        b"From: Alice <alice@example.org>",
        b"To: Bob <bob@example.org>",
        b"Subject: " + (subject or f"message {number}").encode(),
        b"Date: Mon, 02 Jan 2023 10:00:00 +0100",
        b"Message-ID: <" + str(number).encode() + b"." + os.urandom(4).hex().encode()
        + b"@example.org>",
        b"X-Body-SHA256: " + digest,
    ]) + eol + eol
    return header + body


def is_intact(data: bytes) -> bool:
    """True if `data` is a whole message from `make_message` (either line ending)."""
    match = _CHECK.search(data)
    if not match:
        return False
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = data.find(separator)
        if end != -1:
            body = data[end + len(separator):]
            return hashlib.sha256(body).hexdigest().encode() == match.group(1)
    return False
