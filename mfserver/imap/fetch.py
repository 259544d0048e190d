"""The FETCH data items of one message (RFC 3501 6.4.5 and 7.4.2, RFC 3516 BINARY, RFC 7162
MODSEQ), from what the store knows of it.

Implementation notes:
- Pure: no Twisted, no database, no files. The session asks `needs()` what to load besides
  the `MessageInfo` it always has (the cached `MessageDetails`, the message file), loads it in
  a thread, and hands it to `render()`; the encoder writes the values.
- Values are what `imap.encode` writes: `store.mime`'s representation (None NIL, str string,
  int number, list a parenthesised list), `bytes` for literal data, `encode.Atom` for flag
  names (sent as they are, never quoted) and `encode.Literal8` for BINARY data holding NUL
  octets (sent as ~{n}, RFC 3516 4.3).
- Header-only items (RFC822.HEADER, BODY[HEADER], BODY[HEADER.FIELDS (...)] and .NOT) come
  from the cached top-level header block, never from the file. ENVELOPE and BODYSTRUCTURE
  are the cached ones; BODY is the cached BODYSTRUCTURE without its extension data (`body`).
- A section that does not exist (BODY[9] of a two-part message, BODY[1.HEADER] of a part
  that is not message/rfc822) is the empty string. RFC 3501 leaves it open (the response
  is an nstring, so NIL would parse too); Dovecot answers "" ("MIME part not found. return
  an empty part"), and clients that read NIL as "" read "" as "" as well.
- Partial fetch <o.c> slices the section's octets; an origin at or past the end gives ""
  (RFC 3501 6.4.5), and the response item names only the origin: BODY[]<0> (7.4.2).
- Response item names repeat the section spec (RFC 3501 7.4.2); header field names come
  upper-cased, as `Section` keeps them (field names compare case-insensitively).
- Literals never carry NUL (RFC 3501 9: CHAR8 is %x01-ff): NULs in BODY and RFC822 data are
  sent as 0x80, as Dovecot does. BINARY data is sent as it is, as a Literal8 when it has NULs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from mfserver.imap import sections
from mfserver.imap.encode import Atom, Literal8
from mfserver.imap.sections import HEADER_TEXTS, UnknownCTE
from mfserver.imap.syntax import FetchAttribute, Section
from mfserver.store import flags as flagbits
from mfserver.store.mime import split_header
from mfserver.store.records import MessageDetails, MessageInfo

__all__ = ["Atom", "Literal8", "Needs", "UnknownCTE", "body", "internal_date", "marks_seen",
           "needs", "render"]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_INDEX_ITEMS = frozenset({"FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"})
_CACHED_ITEMS = frozenset({"ENVELOPE", "BODYSTRUCTURE", "RFC822.HEADER"})
_FILE_ITEMS = frozenset({"RFC822", "RFC822.TEXT"})
_ATOM_SPECIALS = frozenset('(){ %*"\\]') | {chr(c) for c in range(0x20)} | {"\x7f"}


class Needs(NamedTuple):
    details: bool  # the cached MessageDetails (envelope, bodystructure, header block)
    file: bool     # the message itself (Store.read_message)


def _need(attr: FetchAttribute) -> Needs:
    name, section = attr.name, attr.section
    if name in _INDEX_ITEMS:
        return Needs(False, False)
    if name in _CACHED_ITEMS or (name == "BODY" and section is None):
        return Needs(True, False)
    if name in _FILE_ITEMS:
        return Needs(False, True)
    if name in ("BINARY", "BINARY.SIZE"):
        return Needs(True, True)  # the part's encoding comes from the BODYSTRUCTURE
    if name == "BODY":
        if section.text in HEADER_TEXTS:
            return Needs(True, bool(section.part))
        if section.text == "TEXT" and section.part:
            return Needs(True, True)  # is the part a message/rfc822?
        return Needs(False, True)
    raise ValueError(f"unknown FETCH item {name!r}")


def needs(attrs: Sequence[FetchAttribute]) -> Needs:
    """What `render` needs for these items besides the MessageInfo."""
    wanted = [_need(attr) for attr in attrs]
    return Needs(any(n.details for n in wanted), any(n.file for n in wanted))


def marks_seen(attrs: Sequence[FetchAttribute]) -> bool:
    """Whether fetching these items sets \\Seen (RFC 3501 6.4.5: BODY[...], RFC822,
    RFC822.TEXT and BINARY[...] without PEEK)."""
    return any(attr.sets_seen for attr in attrs)


def internal_date(info: MessageInfo) -> str:
    """RFC 3501 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz", in the zone it was received in."""
    when = info.internal_datetime
    sign = "-" if info.internal_tz < 0 else "+"
    hours, minutes = divmod(abs(info.internal_tz), 60)
    return (f"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year:04d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{hours:02d}{minutes:02d}")


def body(structure: list) -> list:
    """The non-extensible BODY form of a BODYSTRUCTURE (RFC 3501 7.4.2): a multipart keeps
    its parts and subtype; a single part its basic fields (type, subtype, parameters, id,
    description, encoding, size), plus the line count of text/*, plus envelope, body and line
    count of message/rfc822; extension data goes, inside encapsulated messages too."""
    if sections.is_multipart(structure):
        parts = sections.children(structure)
        return [body(part) for part in parts] + [structure[len(parts)]]
    if sections.is_message(structure):
        return [*structure[:8], body(structure[8]), structure[9]]
    if str(structure[0]).upper() == "TEXT":
        return list(structure[:8])
    return list(structure[:7])


def _quote_field(name: str) -> str:
    if name and not any(ch in _ATOM_SPECIALS or ord(ch) > 0x7e for ch in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def section_name(section: Section) -> str:
    """The section spec inside the brackets of a response item: 1.2.HEADER.FIELDS (A B)."""
    pieces = [str(number) for number in section.part]
    if section.text:
        text = section.text
        if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            text += " (" + " ".join(_quote_field(name) for name in section.fields) + ")"
        pieces.append(text)
    return ".".join(pieces)


def _partial(data: bytes, attr: FetchAttribute) -> bytes:
    if attr.partial is None:
        return data
    offset, count = attr.partial
    return data[offset:offset + count]


def _item_name(attr: FetchAttribute) -> str:
    name = f"{attr.name}[{section_name(attr.section)}]"
    return name if attr.partial is None else f"{name}<{attr.partial[0]}>"


def _literal(data: bytes) -> bytes:
    return data.replace(b"\0", b"\x80") if b"\0" in data else data


class _Message:
    """One message's data for one render call; complains when a needed piece is missing."""

    def __init__(self, details: MessageDetails | None, raw: bytes | None) -> None:
        self._details = details
        self._raw = raw

    @property
    def details(self) -> MessageDetails:
        if self._details is None:
            raise ValueError("these FETCH items need the MessageDetails (see needs())")
        return self._details

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            raise ValueError("these FETCH items need the message file (see needs())")
        return self._raw

    @property
    def header(self) -> bytes:
        """The top-level header block: cached, or cut from the file when only it is here."""
        if self._details is None and self._raw is not None:
            return split_header(self._raw)[0]
        return self.details.header

    def body_section(self, section: Section) -> bytes:
        if not section.part and section.text in HEADER_TEXTS:
            return sections.header_text(self.header, section)
        structure = None
        if section.part and section.text in (*HEADER_TEXTS, "TEXT"):
            structure = self.details.bodystructure  # is the part a message/rfc822?
        return sections.body_section(self.raw, structure, section)

    def binary_section(self, section: Section) -> bytes:
        return sections.binary_section(self.raw, self.details.bodystructure, section)


def render(attrs: Sequence[FetchAttribute], info: MessageInfo, details: MessageDetails | None,
           raw: bytes | None, *, flags_override: Sequence[str] | None = None
           ) -> list[tuple[str, object]]:
    """(response item name, value) for each item, in the order asked. `raw` is the message
    as Store.read_message returns it (CRLF); `flags_override` replaces the stored flags in
    FLAGS (the session's view: \\Recent, or \\Seen just set). Raises ValueError when
    `details` or `raw` is needed but missing, UnknownCTE for BINARY of an unknown encoding."""
    message = _Message(details, raw)
    out: list[tuple[str, object]] = []
    for attr in attrs:
        out.append(_render_one(attr, info, message, flags_override))
    return out


def _render_one(attr: FetchAttribute, info: MessageInfo, message: _Message,
                flags_override: Sequence[str] | None) -> tuple[str, object]:
    name = attr.name
    if name == "UID":
        return name, info.uid
    if name == "FLAGS":
        names = (flagbits.imap_names(info.flags, info.keywords) if flags_override is None
                 else flags_override)
        return name, [Atom(flag) for flag in names]
    if name == "INTERNALDATE":
        return name, internal_date(info)
    if name == "RFC822.SIZE":
        return name, info.size
    if name == "MODSEQ":
        return name, [info.modseq]  # RFC 7162 3.1.4: MODSEQ (value)
    if name == "ENVELOPE":
        return name, message.details.envelope
    if name == "BODYSTRUCTURE":
        return name, message.details.bodystructure
    if name == "BODY" and attr.section is None:
        return name, body(message.details.bodystructure)
    if name == "RFC822":
        return name, _literal(message.raw)
    if name == "RFC822.HEADER":
        return name, _literal(message.header)
    if name == "RFC822.TEXT":
        return name, _literal(message.body_section(Section(text="TEXT")))
    if name == "BODY":
        return _item_name(attr), _literal(_partial(message.body_section(attr.section), attr))
    if name == "BINARY":
        data = _partial(message.binary_section(attr.section), attr)
        return _item_name(attr), Literal8(data) if b"\0" in data else data
    if name == "BINARY.SIZE":
        return f"BINARY.SIZE[{section_name(attr.section)}]", len(
            message.binary_section(attr.section))
    raise ValueError(f"unknown FETCH item {name!r}")
