"""Message text as SEARCH compares it (RFC 3501 6.4.4): header fields unfolded with their
RFC 2047 encoded-words decoded, body parts with their transfer encoding and charset undone.

Implementation notes:
- Pure: bytes in, text out. No database, no files.
- "Case-insensitive substring" (RFC 3501 6.4.4) is Unicode case folding of both sides
  (`str.casefold`, close to RFC 9051's i;unicode-casemap). With `Folding(unicode=False)` (the
  client's strings are octets in an unknown charset) nothing is charset-decoded and only ASCII
  letters fold, so octets compare as octets; transfer encodings are undone either way.
- A header field is matched as one unfolded line (RFC 5322 2.2.3): CRLFs before folding white
  space are removed, so a needle may span a fold but never two fields. Adjacent encoded-words
  join without the white space between them (RFC 2047 6.2). Unknown charsets fall back to
  UTF-8, then latin-1; only text codecs are ever looked up (`bytes.decode` refuses zlib & co).
- The body is what follows the top-level header: the MIME header of every part, the header of
  every encapsulated message (message/rfc822), and the decoded content of every text/* part.
  Non-text leaves (images, archives, octet streams) are skipped: substrings of binary data are
  noise. Preamble and epilogue are not searched. The MIME tree is cut by `mime`'s tree builder,
  so SEARCH sees exactly the parts FETCH numbers; its limits (depth, parts) bound the work.
- A needle never matches across two parts, two header fields, or a part boundary.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

from mfserver.store.mime import _TreeBuilder, normalize_crlf, split_header

IDENTITY_ENCODINGS = frozenset({"7BIT", "8BIT", "BINARY"})

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(rb"[ \t\r\n]*")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us"})


# --- transfer encodings and charsets -----------------------------------------------------

def decode_base64(data: bytes) -> bytes:
    """RFC 2045 6.8, leniently: characters outside the alphabet are ignored (6.8 says so),
    and a missing or broken end of padding is repaired instead of failing the whole part."""
    clean = _NOT_BASE64.sub(b"", data)
    rest = len(clean) % 4
    if rest == 1:
        clean = clean[:-1]
    elif rest:
        clean += b"=" * (4 - rest)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:  # pragma: no cover - the cleaning above leaves valid input
        return b""


def decode_transfer(data: bytes, encoding: str | None) -> bytes | None:
    """Undo a Content-Transfer-Encoding (RFC 2045 6); None when it is not one we know
    (RFC 3516 4.1: the caller answers NO [UNKNOWN-CTE] to BINARY)."""
    name = (encoding or "7BIT").strip().upper()
    if name in IDENTITY_ENCODINGS:
        return data
    if name == "BASE64":
        return decode_base64(data)
    if name == "QUOTED-PRINTABLE":
        return binascii.a2b_qp(data)  # soft breaks "=CRLF" go; hard CRLFs stay
    return None


def decode_charset(data: bytes, charset: str | None) -> str:
    """`data` as text in `charset` (RFC 2046 4.1.2); UTF-8, then latin-1, when the charset is
    absent, US-ASCII (often mislabelled 8-bit mail), unknown, or not a text codec."""
    label = (charset or "").strip().strip('"').lower()
    if label and label not in _ASCII_LABELS:
        try:
            return data.decode(label, "replace")
        except (LookupError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class Folding:
    """How needle and message text are made comparable; see the module notes."""

    def __init__(self, unicode: bool = True) -> None:
        self.unicode = unicode

    def needle(self, value: str | bytes) -> str:
        if self.unicode:
            text = value if isinstance(value, str) else decode_charset(value, "utf-8")
            return text.casefold()
        octets = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return octets.translate(_ASCII_LOWER).decode("latin-1")

    def text(self, data: bytes, charset: str | None) -> str:
        """Decoded content of a text part, folded."""
        if self.unicode:
            return decode_charset(data, charset).casefold()
        return data.translate(_ASCII_LOWER).decode("latin-1")

    def words(self, value: bytes) -> str:
        """A header value with its encoded-words decoded, folded."""
        pieces: list[str] = []
        pos = 0
        for found in _ENCODED_WORD.finditer(value):
            between = value[pos:found.start()]
            if pos == 0 or _BETWEEN_WORDS.fullmatch(between) is None:
                pieces.append(self.text(between, None))
            charset = found.group(1).split(b"*", 1)[0].decode("latin-1")  # RFC 2231 *lang
            payload = found.group(3)
            if found.group(2) in b"bB":
                octets = decode_base64(payload)
            else:
                octets = binascii.a2b_qp(payload, header=True)
            pieces.append(self.text(octets, charset))
            pos = found.end()
        pieces.append(self.text(value[pos:], None))
        return "".join(pieces)

    def cheap_miss(self, needle: str, block: bytes) -> bool:
        """True when `needle` surely occurs nowhere in the decoded, unfolded `block`: decoding
        would change nothing (no encoded-words; ASCII, whose case folding is ASCII lowering)
        and the needle is not in the lowered octets. One C-level scan instead of a parse."""
        if b"=?" in block:
            return False
        if self.unicode and not (needle.isascii() and block.isascii()):
            return False
        octets = needle.encode("latin-1") if not self.unicode else needle.encode("ascii")
        return octets not in block.replace(b"\r\n", b"").translate(_ASCII_LOWER)


# --- header fields ------------------------------------------------------------------------

def unfolded_fields(block: bytes) -> Iterator[tuple[str, bytes]]:
    """(lower-case name, raw value) of every field of a header block, unfolded; lines
    without a colon (and continuation lines before the first field) belong to no field."""
    for line in _FOLD.sub(b"", normalize_crlf(block)).split(b"\r\n"):
        colon = line.find(b":")
        if colon <= 0 or line[:1] in (b" ", b"\t"):
            continue
        yield line[:colon].rstrip(b" \t").decode("latin-1").lower(), line[colon + 1:].strip()


class HeaderText:
    """The searchable text of one header block (CRLF line endings, as the store caches it),
    decoded on demand and cached per field name."""

    __slots__ = ("block", "folding", "_fields", "_values", "_whole")

    def __init__(self, block: bytes, folding: Folding) -> None:
        self.block = block
        self.folding = folding
        self._fields: list[tuple[str, bytes]] | None = None
        self._values: dict[str, list[str]] = {}
        self._whole: str | None = None

    def _all(self) -> list[tuple[str, bytes]]:
        if self._fields is None:
            self._fields = list(unfolded_fields(self.block))
        return self._fields

    def values(self, name: str) -> list[str]:
        """The folded, decoded values of every field called `name` (any case)."""
        name = name.lower()
        found = self._values.get(name)
        if found is None:
            found = [self.folding.words(value) for field, value in self._all() if field == name]
            self._values[name] = found
        return found

    def field_contains(self, name: str, needle: str) -> bool:
        """RFC 3501 6.4.4 HEADER (and FROM, TO, ...): a field `name` exists whose text
        contains `needle`; an empty needle matches any such field."""
        if needle and self.folding.cheap_miss(needle, self.block):
            return False
        return any(needle in value for value in self.values(name))

    def whole(self) -> str:
        """Every field as 'name: value', one per line: the header half of TEXT."""
        if self._whole is None:
            self._whole = "\n".join(f"{name}: {self.folding.words(value)}"
                                    for name, value in self._all())
        return self._whole

    def contains(self, needle: str) -> bool:
        if needle and self.folding.cheap_miss(needle, self.block):
            return False
        return needle in self.whole()


# --- bodies -------------------------------------------------------------------------------

def _encoding(fields) -> str:
    value = fields.get("content-transfer-encoding")
    return value.split(";", 1)[0].strip().upper() if value else "7BIT"


def body_texts(raw: bytes, folding: Folding) -> Iterator[str]:
    """The folded text of the body of `raw` (CRLF), one string per piece; see the notes."""
    data = normalize_crlf(raw)
    root = _TreeBuilder(data).part(0, len(data), 0, False)
    yield from _node_texts(root, data, folding)


def _node_texts(node, data: bytes, folding: Folding) -> Iterator[str]:
    if node.opaque:
        return
    if node.children is not None:
        for child in node.children:
            mime_header = data[child.header_start:child.body_start]
            if mime_header:
                yield HeaderText(mime_header, folding).whole()
            yield from _node_texts(child, data, folding)
        return
    if node.message is not None:
        inner = node.message
        yield HeaderText(data[inner.header_start:inner.body_start], folding).whole()
        yield from _node_texts(inner, data, folding)
        return
    kind, _, params = node.media
    if kind != "TEXT":
        return
    content = decode_transfer(data[node.body_start:node.end], _encoding(node.fields))
    if content is None:  # unknown transfer encoding: search what is there
        content = data[node.body_start:node.end]
    charset = next((value for name, value in params if name == "CHARSET"), None)
    yield folding.text(content, charset)


class MessageText:
    """One message file's searchable text: its header and its body, each decoded once."""

    __slots__ = ("raw", "folding", "_header", "_body")

    def __init__(self, raw: bytes, folding: Folding) -> None:
        self.raw = raw
        self.folding = folding
        self._header: HeaderText | None = None
        self._body: list[str] | None = None

    @property
    def header(self) -> HeaderText:
        if self._header is None:
            self._header = HeaderText(normalize_crlf(split_header(self.raw)[0]), self.folding)
        return self._header

    def body_contains(self, needle: str) -> bool:
        if self._body is None:
            self._body = list(body_texts(self.raw, self.folding))
        return any(needle in piece for piece in self._body)

    def text_contains(self, needle: str) -> bool:
        return self.header.contains(needle) or self.body_contains(needle)
