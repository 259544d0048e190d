"""The MIME tree of a message body at the byte level, for milters that change single parts.

Implementation notes:
- `leaves()` yields every leaf part with the byte offsets of its body inside the message body
  (RFC 2046 5.1.1: a delimiter is `--boundary` at the start of a line; the CRLF before it
  belongs to the delimiter), its media type, charset and transfer encoding, and whether it lies
  under a signed or encrypted container (multipart/signed, multipart/encrypted,
  application/pkcs7-mime): a milter must never change those, or it breaks the signature.
- Replacing a leaf's body bytes (`splice`) changes nothing else: every other byte, boundary
  and header stays as it was.
- Bounded: MAX_DEPTH levels of nesting, MAX_PARTS parts; past them the rest is not yielded
  (left untouched). message/rfc822 parts are leaves (a forwarded message is not rewritten).
- Headers of each part are read with the `email` package from that part's header block only.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_DEPTH = 20
MAX_PARTS = 1000
PROTECTED = {"multipart/signed", "multipart/encrypted", "application/pkcs7-mime",
             "application/x-pkcs7-mime", "application/pgp-encrypted"}


@dataclass(frozen=True)
class Leaf:
    start: int              # where the leaf's body starts in the message body
    end: int                # where it ends
    content_type: str       # lowercased type/subtype
    charset: str | None
    encoding: str           # lowercased Content-Transfer-Encoding, "7bit" by default
    filename: str | None
    protected: bool         # under a signed/encrypted container, or one itself


@dataclass(frozen=True)
class PartHeader:
    content_type: str
    boundary: str | None
    charset: str | None
    encoding: str
    filename: str | None


def read_header(header: bytes) -> PartHeader:
    """The MIME fields of one header block (for the top level, the message's own fields)."""
    fields = email.message_from_bytes(header + b"\r\n", policy=email.policy.compat32)
    boundary = fields.get_param("boundary")
    charset = fields.get_content_charset()
    encoding = str(fields.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    try:
        filename = fields.get_filename()
    except (LookupError, ValueError):
        filename = None
    return PartHeader(fields.get_content_type().lower(),
                      boundary if isinstance(boundary, str) else None,
                      charset, encoding, filename)


def _header_end(data: bytes, start: int, end: int) -> int:
    if data.startswith(b"\r\n", start, end):
        return start + 2
    blank = data.find(b"\r\n\r\n", start, end)
    return blank + 4 if 0 <= blank < end else end


def _regions(data: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """(start, end) of each part of the multipart body `data[start:end]`."""
    dash = b"--" + boundary.encode("latin-1", "replace")
    tail = rb"(--)?[ \t]*(?:\r\n|\Z)"
    after_crlf = re.compile(rb"\r\n" + re.escape(dash) + tail)
    at_start = re.compile(re.escape(dash) + tail)
    found = at_start.match(data, start, end) or after_crlf.search(data, start, end)
    regions: list[tuple[int, int]] = []
    while found is not None and not found.group(1) and len(regions) < MAX_PARTS:
        part_start = found.end()
        found = after_crlf.search(data, part_start, end)
        regions.append((part_start, found.start() if found else end))
    return regions


def leaves(top: PartHeader, body: bytes) -> Iterator[Leaf]:
    """Every leaf of the message whose own MIME fields are `top` and whose body is `body`."""
    count = [0]
    yield from _walk(top, body, 0, len(body), 0, False, count)


def _walk(header: PartHeader, data: bytes, start: int, end: int, depth: int,
          protected: bool, count: list[int]) -> Iterator[Leaf]:
    count[0] += 1
    protected = protected or header.content_type in PROTECTED
    if header.content_type.startswith("multipart/") and header.boundary:
        if depth >= MAX_DEPTH:
            return
        for part_start, part_end in _regions(data, start, end, header.boundary):
            if count[0] >= MAX_PARTS:
                return
            body_start = _header_end(data, part_start, part_end)
            inner = read_header(data[part_start:body_start])
            yield from _walk(inner, data, body_start, part_end, depth + 1, protected, count)
        return
    yield Leaf(start, end, header.content_type, header.charset, header.encoding,
               header.filename, protected)


def decode(leaf: Leaf, body: bytes) -> bytes | None:
    """The leaf's content without its transfer encoding; None if it cannot be decoded."""
    data = body[leaf.start:leaf.end]
    try:
        if leaf.encoding == "base64":
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", data) + b"==")
        if leaf.encoding == "quoted-printable":
            return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        return None
    if leaf.encoding in ("7bit", "8bit", "binary", ""):
        return data
    return None


def encode(leaf: Leaf, content: bytes) -> bytes:
    """`content` in the leaf's transfer encoding, with CRLF line ends."""
    if leaf.encoding == "base64":
        return base64.encodebytes(content).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    if leaf.encoding == "quoted-printable":
        text = content.replace(b"\r\n", b"\n")
        return binascii.b2a_qp(text, istext=True).replace(b"\n", b"\r\n")
    return content


def splice(body: bytes, changes: list[tuple[Leaf, bytes]]) -> bytes:
    """`body` with each leaf's bytes replaced; everything between them kept as it was."""
    out, pos = [], 0
    for leaf, replacement in sorted(changes, key=lambda change: change[0].start):
        out += [body[pos:leaf.start], replacement]
        pos = leaf.end
    out.append(body[pos:])
    return b"".join(out)
