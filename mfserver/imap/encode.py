"""IMAP response values and lines as they go on the wire (RFC 3501 4 and 7, RFC 9051 4).

Implementation notes:
- Values use the representation of `store.mime`: None is NIL, str a string, int a number,
  list/tuple a parenthesised list. On top of it: `Atom` (a str sent unquoted: flags,
  keywords, FETCH item names, NIL only when asked for), `Literal` (bytes always sent as
  `{n}` literal), `Literal8` (a `~{n}` literal8, RFC 3516), `Raw` (octets already
  encoded). A plain str is never sent as an atom, so a subject of "NIL" is `"NIL"`.
- A str goes quoted when it is short (`QUOTED_MAX` octets) and printable ASCII, plus
  any non-ASCII character when the session enabled UTF8=ACCEPT (RFC 6855 3, RFC 9051
  quoted-char); otherwise it becomes a literal of its UTF-8 octets. NUL cannot appear in
  a literal (RFC 3501 9, CHAR8) and is replaced by U+FFFD; unencodable lone surrogates
  become "?" (neither comes out of `store.mime`, which decodes real octets).
- bytes (and bytearray, memoryview) are always literals, sent as they are: choosing
  literal8 for content with NUL is the FETCH engine's business (`Literal8`).
- `encode_chunks` returns the wire form as a list of pieces: small pieces are joined, while
  a literal's content of `BIG_LITERAL` octets or more is passed through as the very object
  given (no copy), ready for `transport.writeSequence`. Building is linear.
- `Atom` checks its text when made (ValueError for SP, CTL, 8-bit, parentheses, "{" or DQUOTE)
  so a programming error cannot break the framing of a response.
- Response lines: `status_response` (tagged or untagged OK/NO/BAD, untagged PREAUTH/BYE,
  with an optional response code), `untagged` data, `continuation` and, for SASL,
  `continuation_data`. Codes come from `response_code("UIDNEXT", 5)` -> b"[UIDNEXT 5]".
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from mfserver.imap import mutf7
from mfserver.store import flags as store_flags

QUOTED_MAX = 1024  # longer strings go as literals
BIG_LITERAL = 16 * 1024  # literal contents this large are passed through, not copied
CRLF = b"\r\n"

_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_PRINTABLE_OR_UTF8 = re.compile(r"[\x20-\x7e\u00a0-\ud7ff\ue000-\U0010ffff]*")
_NOT_IN_ATOM = re.compile(r'[^\x21-\x7e]|[(){"]')
_STATUSES = frozenset({"OK", "NO", "BAD", "PREAUTH", "BYE"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Chunk = bytes | memoryview


class Atom(str):
    """Text sent as it is, unquoted: \\Seen, $Forwarded, NIL, BODY[HEADER], UIDNEXT."""

    def __new__(cls, value: str) -> Atom:
        if not value or _NOT_IN_ATOM.search(value):
            raise ValueError(f"not an atom: {value!r}")
        return super().__new__(cls, value)


class Literal(bytes):
    """Octets always sent as a literal `{n}` CRLF ..., even if they could be quoted."""


class Literal8(bytes):
    """Octets sent as a literal8 `~{n}` CRLF ... (RFC 3516: BINARY[...] data)."""


class Raw(bytes):
    """Octets already in wire form, copied into the response unchanged."""


NIL = Atom("NIL")


def encode_value(value: Any, *, utf8: bool = False) -> bytes:
    """The wire form of one value; see the module notes."""
    return b"".join(encode_chunks(value, utf8=utf8))


def encode_chunks(value: Any, *, utf8: bool = False) -> list[Chunk]:
    """The wire form of `value` as pieces to write in order; big literals are not copied."""
    pieces: list[Chunk] = []
    _encode(value, pieces, utf8)
    return _merge(pieces)


def _merge(pieces: list[Chunk]) -> list[Chunk]:
    chunks: list[Chunk] = []
    small: list[Chunk] = []
    for piece in pieces:
        if len(piece) >= BIG_LITERAL:
            if small:
                chunks.append(b"".join(small))
                small = []
            chunks.append(piece)
        else:
            small.append(piece)
    if small:
        chunks.append(b"".join(small))
    return chunks


def _encode(value: Any, out: list[Chunk], utf8: bool) -> None:
    if value is None:
        out.append(b"NIL")
    elif isinstance(value, Atom):
        out.append(value.encode("ascii"))
    elif isinstance(value, str):
        _string(value, out, utf8)
    elif isinstance(value, bool):
        raise TypeError("a bool is not an IMAP value")
    elif isinstance(value, int):
        if value < 0:
            raise ValueError("IMAP numbers are not negative")
        out.append(b"%d" % value)
    elif isinstance(value, Raw):
        out.append(value)
    elif isinstance(value, Literal8):
        out.append(b"~{%d}\r\n" % len(value))
        out.append(value)
    elif isinstance(value, bytes | bytearray | memoryview):
        data = value if isinstance(value, bytes | memoryview) else bytes(value)
        out.append(b"{%d}\r\n" % (data.nbytes if isinstance(data, memoryview) else len(data)))
        out.append(data)
    elif isinstance(value, list | tuple):
        out.append(b"(")
        for index, item in enumerate(value):
            if index:
                out.append(b" ")
            _encode(item, out, utf8)
        out.append(b")")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as an IMAP value")


def _string(text: str, out: list[Chunk], utf8: bool) -> None:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    quotable = _PRINTABLE_OR_UTF8 if utf8 else _PRINTABLE
    if len(text) <= QUOTED_MAX and quotable.fullmatch(text):
        octets = text.encode("utf-8")
        if len(octets) <= QUOTED_MAX:
            out.append(b'"' + octets.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"')
            return
    octets = text.encode("utf-8", "replace")
    out.append(b"{%d}\r\n" % len(octets))
    out.append(octets)


def quote_mailbox(name: str, utf8: bool = False) -> bytes:
    """A mailbox name as a string: modified UTF-7 (RFC 3501 5.1.3), or UTF-8 once the
    session enabled UTF8=ACCEPT (RFC 6855 3)."""
    return encode_value(name if utf8 else mutf7.encode(name), utf8=utf8)


def format_internal_date(seconds: int, tz_minutes: int) -> str:
    """RFC 3501 9 date-time without its DQUOTEs: "07-Feb-1994 21:52:25 -0800".

    `seconds` since the epoch (UTC), shown in the zone `tz_minutes` east of UTC.
    """
    zone = timezone(timedelta(minutes=tz_minutes))
    moment = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    sign = "-" if tz_minutes < 0 else "+"
    hours, minutes = divmod(abs(tz_minutes), 60)
    return (f"{moment.day:02d}-{_MONTHS[moment.month - 1]}-{moment.year:04d} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} "
            f"{sign}{hours:02d}{minutes:02d}")


def format_flags(bits: int, keywords: Iterable[str] = ()) -> bytes:
    """The flag-list of a message: system flags from `bits` (store.flags), then keywords."""
    return encode_value([Atom(name) for name in store_flags.imap_names(bits, keywords)])


def response_code(name: str, *values: Any) -> bytes:
    """RFC 3501 7.1 resp-text-code in brackets: response_code("UIDNEXT", 5) -> b"[UIDNEXT 5]".

    Values are encoded like any other (lists get parentheses); give sets and capability
    names as `Atom`. A value that would need a literal is refused (ValueError).
    """
    encoded = b" ".join([Atom(name).encode("ascii")]
                        + [encode_value(value) for value in values])
    if any(octet in encoded for octet in (b"\r", b"\n", b"]")):
        raise ValueError("a response code cannot hold a literal or ']'")
    return b"[" + encoded + b"]"


def status_response(tag: str | None, status: str, text: str,
                    code: bytes | str | None = None) -> bytes:
    """`tag OK [code] text` CRLF, or `* ...` when `tag` is None (RFC 3501 7.1).

    `code` is either what `response_code` made or the text inside the brackets (as in
    `ParseError.code`). `text` must be non-empty and not start with "["; CR and LF in it
    become spaces, and it is sent as UTF-8.
    """
    if status not in _STATUSES or (tag is not None and status in ("PREAUTH", "BYE")):
        raise ValueError(f"not a status for this response: {status}")
    if not text or (code is None and text.startswith("[")):
        raise ValueError("response text must be non-empty and not look like a code")
    parts = [(tag or "*").encode("ascii"), status.encode("ascii")]
    if isinstance(code, str):
        parts.append(b"[" + code.encode("ascii") + b"]")
    elif code is not None:
        parts.append(code)
    parts.append(text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace"))
    return b" ".join(parts) + CRLF


def untagged_chunks(*values: Any, utf8: bool = False) -> list[Chunk]:
    """An untagged data response `* v1 v2 ...` CRLF as pieces (see `encode_chunks`)."""
    pieces: list[Chunk] = [b"*"]
    for value in values:
        pieces.append(b" ")
        _encode(value, pieces, utf8)
    pieces.append(CRLF)
    return _merge(pieces)


def untagged(*values: Any, utf8: bool = False) -> bytes:
    """untagged(5, Atom("EXISTS")) -> b"* 5 EXISTS\\r\\n"."""
    return b"".join(untagged_chunks(*values, utf8=utf8))


def continuation(text: str = "") -> bytes:
    """RFC 3501 7.5 command continuation request: "+ text" CRLF."""
    return b"+ " + text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace") + CRLF


def continuation_data(data: bytes) -> bytes:
    """A SASL challenge (RFC 3501 6.2.2): "+ " base64 CRLF."""
    return b"+ " + base64.b64encode(data) + CRLF


__all__ = [
    "BIG_LITERAL", "NIL", "QUOTED_MAX", "Atom", "Literal", "Literal8", "Raw",
    "continuation", "continuation_data", "encode_chunks", "encode_value",
    "format_flags", "format_internal_date", "quote_mailbox", "response_code",
    "status_response", "untagged", "untagged_chunks",
]
