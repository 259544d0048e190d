"""A message's header fields as raw bytes: read them, find the authors, drop forged results.

Implementation notes:
- Nothing here raises on malformed input. A header line that is neither a field
  (`name:` with printable ASCII name, RFC 5322 §2.2) nor a continuation (leading SP/HTAB)
  ends the header section; a message without the empty line is all header.
- Fields keep their exact bytes (line ends included), so removing one leaves every other
  byte of the message untouched (signatures made before us still verify).
- Values are decoded as UTF-8 (RFC 6532), falling back to Latin-1, so 8-bit headers give
  text, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

_FIELD_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_LINE = re.compile(rb"[^\n]*\n|[^\n]+")


@dataclass(frozen=True)
class Field:
    """One header field: its name in lower case and its raw bytes, folding included."""

    name: str
    raw: bytes

    @property
    def value(self) -> str:
        """The unfolded value after the colon, as text."""
        raw = self.raw.split(b":", 1)[1] if b":" in self.raw else b""
        raw = re.sub(rb"\r?\n(?=[ \t])", b"", raw).rstrip(b"\r\n")
        try:
            return raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            return raw.decode("latin-1").strip()


def split_header(message: bytes) -> tuple[list[Field], bytes]:
    """The header fields, and the rest of the message (the empty line and the body)."""
    starts: list[tuple[str, int]] = []
    offset = 0
    for match in _LINE.finditer(message):
        line = match.group()
        if line in (b"\r\n", b"\n"):
            break
        if not (line[:1] in (b" ", b"\t") and starts):
            name = _FIELD_NAME.match(line)
            if name is None:
                break
            starts.append((name.group(1).decode("ascii").lower(), match.start()))
        offset = match.end()
    if not starts:
        return [], message
    ends = [start for _, start in starts[1:]] + [offset]
    fields = [Field(name, message[start:end]) for (name, start), end in zip(starts, ends, strict=True)]
    return fields, message[offset:]


def join_header(fields: list[Field], rest: bytes) -> bytes:
    return b"".join(field.raw for field in fields) + rest


def author_addresses(fields: list[Field]) -> tuple[list[str], str]:
    """The addresses of every From field (RFC 5322 §3.6.2), and a reason when they are unusable.

    The reason is empty when there is exactly one From field whose addresses all have a
    domain; otherwise it says what is wrong, and the addresses that could be read are still
    given (a message must not pass by being malformed, RFC 7489 §6.6.1).
    """
    values = [field.value for field in fields if field.name == "from"]
    if not values:
        return [], "no From header field"
    addresses = [address for _, address in getaddresses(values)]
    usable = [address for address in addresses if domain_of(address)]
    if len(values) > 1:
        return usable, "several From header fields"
    if not usable or len(usable) != len(addresses):
        return usable, "From header field without a usable address"
    return usable, ""


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)"
                     r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)+$")


def ascii_domain(domain: str) -> str:
    """The domain in lower-case A-labels, or "" when it is not a domain name."""
    domain = domain.strip().rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return domain if _DOMAIN.match(domain) else ""


def domain_of(address: str) -> str:
    """The domain of `local@domain` in A-labels, or "" when there is none."""
    if "@" not in address:
        return ""
    return ascii_domain(address.rsplit("@", 1)[1])


def authserv_id_of(value: str) -> str:
    """The authserv-id that starts an Authentication-Results value (RFC 8601 §2.2), lowered."""
    rest = _skip_cfws(value)
    if rest.startswith('"'):
        match = re.match(r'"((?:[^"\\]|\\.)*)"', rest)
        token = re.sub(r"\\(.)", r"\1", match.group(1)) if match else ""
    else:
        token = re.match(r"[^\s;()]*", rest).group()  # type: ignore[union-attr]
    return token.lower()


def _skip_cfws(text: str) -> str:
    """`text` after leading white space and (nested) comments."""
    depth = 0
    for position, char in enumerate(text):
        if depth == 0 and not char.isspace() and char != "(":
            return text[position:]
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
    return ""


def strip_forged_results(message: bytes, authserv_id: str) -> bytes:
    """The message without Authentication-Results fields that claim to be ours (RFC 8601 §5).

    Fields of other authserv-ids are kept; comparison ignores case.
    """
    ours = authserv_id.strip().lower()
    fields, rest = split_header(message)
    kept = [field for field in fields
            if not (field.name == "authentication-results"
                    and authserv_id_of(field.value) == ours)]
    if len(kept) == len(fields):
        return message
    return join_header(kept, rest)
