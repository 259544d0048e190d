"""FETCH data items, BODY[...] section specs and FETCH modifiers, read from a command.

Implementation notes:
- RFC 3501 6.4.5 and 9 (fetch-att, section, partial), RFC 3516 (BINARY[part]<o.c>,
  BINARY.PEEK, BINARY.SIZE[part]), RFC 7162 3.1.4 (MODSEQ) and 3.1.4.1 / 3.2.6 (the
  CHANGEDSINCE and VANISHED modifiers). Items come out as `syntax.FetchAttribute`.
- The macros ALL, FAST and FULL stand alone, never inside a list, and are expanded here
  (RFC 3501 6.4.5) so the FETCH engine only ever sees items.
- Item names are read as a run of letters, digits, dots and hyphens, because "[" is an
  ATOM-CHAR and an atom would run on into the section.
- Section grammar as RFC 3501 9 has it: part numbers are nz-numbers below 2^32 with no
  leading zero; MIME only after a part number; HEADER.FIELDS[.NOT] needs a non-empty list
  of astrings (uppercased in `Section.fields`); a partial's count is non-zero; BINARY
  sections are part numbers only; BINARY.SIZE takes no partial.
- CHANGEDSINCE 0 is accepted although RFC 7162 asks for a mod-sequence-value (>= 1): a
  client that never saw a modseq may send it, and "changed since 0" is simply everything.
"""

from __future__ import annotations

import re

from mfserver.imap.parser_tokens import Reader, shown
from mfserver.imap.syntax import FetchAttribute, Section

_NAME = re.compile(rb"[A-Za-z0-9.\-]+")
_SECTION_WORD = re.compile(rb"[A-Za-z]+(?:\.[A-Za-z]+)*")
_DIGIT = frozenset(b"0123456789")

_PLAIN_ITEMS = frozenset({
    "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
    "RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ"})


def _items(*names: str) -> tuple[FetchAttribute, ...]:
    return tuple(FetchAttribute(name) for name in names)


MACROS = {  # RFC 3501 6.4.5
    "ALL": _items("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": _items("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": _items("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}


def fetch_items(reader: Reader) -> tuple[FetchAttribute, ...]:
    """RFC 3501 9: ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")."""
    if reader.peek() == ord("("):
        return tuple(fetch_item(reader) for _ in reader.each())
    name = _name(reader)
    if name in MACROS:
        return MACROS[name]
    return (_item_named(reader, name),)


def fetch_item(reader: Reader) -> FetchAttribute:
    return _item_named(reader, _name(reader))


def _name(reader: Reader) -> str:
    match = _NAME.match(reader.data, reader.pos)
    if match is None:
        raise reader.fail("expected a FETCH item")
    reader.pos = match.end()
    return match.group().decode("ascii").upper()


def _item_named(reader: Reader, name: str) -> FetchAttribute:
    if name in _PLAIN_ITEMS:
        return FetchAttribute(name)
    if name == "BODY" and reader.peek() != ord("["):
        return FetchAttribute("BODY")  # the non-extensible BODYSTRUCTURE
    if name in ("BODY", "BODY.PEEK"):
        section = _body_section(reader)
        return FetchAttribute("BODY", section, _partial(reader), peek=name == "BODY.PEEK")
    if name in ("BINARY", "BINARY.PEEK"):
        section = _binary_section(reader)
        return FetchAttribute("BINARY", section, _partial(reader), peek=name == "BINARY.PEEK")
    if name == "BINARY.SIZE":
        return FetchAttribute("BINARY.SIZE", _binary_section(reader))
    raise reader.error(f"unknown FETCH item {shown(name)}")


def _body_section(reader: Reader) -> Section:
    """RFC 3501 9: section = "[" [section-spec] "]"."""
    if not reader.take(b"["):
        raise reader.error("invalid section")
    if reader.take(b"]"):
        return Section()
    section = _section_spec(reader)
    if not reader.take(b"]"):
        raise reader.error("invalid section")
    return section


def _section_spec(reader: Reader) -> Section:
    """section-spec = section-msgtext / (section-part ["." section-text])."""
    part: list[int] = []
    while reader.peek() in _DIGIT:
        part.append(_part_number(reader))
        if not reader.take(b"."):
            return Section(tuple(part))
        if reader.peek() not in _DIGIT:
            break
    match = _SECTION_WORD.match(reader.data, reader.pos)
    if match is None:
        raise reader.error("invalid section")
    reader.pos = match.end()
    text = match.group().decode("ascii").upper()
    if text == "MIME" and part:  # section-text: MIME only after a part number
        return Section(tuple(part), text)
    if text in ("HEADER", "TEXT"):
        return Section(tuple(part), text)
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        reader.sp()
        fields = tuple(reader.astring().upper() for _ in reader.each())
        return Section(tuple(part), text, fields)
    raise reader.error("invalid section")


def _part_number(reader: Reader) -> int:
    number = reader.digits(nonzero=True)
    if number is None:
        raise reader.error("invalid section")
    return number


def _binary_section(reader: Reader) -> Section:
    """RFC 3516: section-binary = "[" [section-part] "]"."""
    if not reader.take(b"["):
        raise reader.error("invalid section")
    part: list[int] = []
    if not reader.take(b"]"):
        part.append(_part_number(reader))
        while reader.take(b"."):
            part.append(_part_number(reader))
        if not reader.take(b"]"):
            raise reader.error("invalid section")
    return Section(tuple(part))


def _partial(reader: Reader) -> tuple[int, int] | None:
    """RFC 3501 9: "<" number "." nz-number ">"."""
    if not reader.take(b"<"):
        return None
    offset = reader.digits()
    if offset is None or not reader.take(b"."):
        raise reader.error("invalid partial range")
    count = reader.digits(nonzero=True)
    if count is None or not reader.take(b">"):
        raise reader.error("invalid partial range")
    return offset, count


def fetch_modifiers(reader: Reader, uid: bool) -> tuple[int | None, bool]:
    """RFC 4466 fetch-modifiers: (CHANGEDSINCE n [VANISHED]) -> (changed_since, vanished)."""
    changed_since: int | None = None
    vanished = False
    seen: set[str] = set()
    for _ in reader.each():
        word = reader.keyword("expected a FETCH modifier")
        if word in seen:
            raise reader.error(f"duplicate FETCH modifier {shown(word)}")
        seen.add(word)
        if word == "CHANGEDSINCE":  # RFC 7162 3.1.4.1
            reader.sp()
            changed_since = reader.number64()
        elif word == "VANISHED":  # RFC 7162 3.2.6
            vanished = True
        else:
            raise reader.error(f"unknown FETCH modifier {shown(word)}")
    if vanished and not uid:
        raise reader.error("VANISHED needs UID FETCH")
    if vanished and changed_since is None:
        raise reader.error("VANISHED needs CHANGEDSINCE")
    return changed_since, vanished
