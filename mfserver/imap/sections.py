"""The octets of a BODY[section] or BINARY[section] of one message (RFC 3501 6.4.5, RFC 3516).

Implementation notes:
- Pure. `raw` is the message as the store returns it (CRLF); offsets come from
  `mime.part_offsets`, and the kind of each part (multipart, message/rfc822, its transfer
  encoding) from the cached BODYSTRUCTURE, which the same parser made at delivery, so both
  walk the same tree (`structure_at` mirrors `part_offsets` step for step).
- Part numbers, RFC 3501 6.4.5: a message that is not multipart has one part, its body, so
  BODY[1] is the body and BODY[1.MIME] the message header (Dovecot does the same); the parts
  of a message/rfc822 part are those of the message it holds. BODY[n] of a multipart part is
  that part's body, boundaries and all.
- HEADER, HEADER.FIELDS[.NOT] and TEXT after a part number need a message/rfc822 part
  (RFC 3501 6.4.5); of any other part, like a part that does not exist, they are empty.
- BINARY (RFC 3516 4.2): the part's body with its Content-Transfer-Encoding undone. A
  multipart's has no encoding of its own and is returned as it is. BINARY[] of a message
  that is not multipart is its header and decoded body. An encoding we do not know raises
  `UnknownCTE`, which the session answers with NO [UNKNOWN-CTE] (RFC 3516 4.1).
"""

from __future__ import annotations

from mfserver.imap.syntax import Section
from mfserver.store.mime import header_fields, part_offsets, split_header
from mfserver.store.search_text import decode_transfer

HEADER_TEXTS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT")


class UnknownCTE(Exception):
    """BINARY of a part whose Content-Transfer-Encoding is not one we can decode."""

    def __init__(self, section: Section, encoding: str) -> None:
        super().__init__(f"unknown Content-Transfer-Encoding {encoding!r} in part {section}")
        self.section = section
        self.encoding = encoding


def is_multipart(node: list) -> bool:
    """Whether a BODYSTRUCTURE node is a multipart (its first item is a part)."""
    return bool(node) and isinstance(node[0], list)


def is_message(node: list) -> bool:
    """Whether a BODYSTRUCTURE node is a message/rfc822 part that was descended into."""
    return (not is_multipart(node) and len(node) > 9 and isinstance(node[8], list)
            and str(node[0]).upper() == "MESSAGE" and str(node[1]).upper() == "RFC822")


def children(node: list) -> list[list]:
    """The parts of a multipart BODYSTRUCTURE node (the lists before its subtype)."""
    found = []
    for item in node:
        if not isinstance(item, list):
            break
        found.append(item)
    return found


def structure_at(structure: list, path: tuple[int, ...]) -> list | None:
    """The BODYSTRUCTURE node of part `path` (the whole message for ()), or None."""
    node = structure
    for step, number in enumerate(path):
        if is_multipart(node):
            parts = children(node)
            if not 1 <= number <= len(parts):
                return None
            part = parts[number - 1]
        elif number == 1:
            part = node  # a message that is not multipart: part 1 is its body
        else:
            return None
        if step == len(path) - 1:
            return part
        if is_message(part):
            node = part[8]
        elif is_multipart(part):
            node = part
        else:
            return None
    return node


def body_section(raw: bytes, structure: list | None, section: Section) -> bytes:
    """BODY[section] without the partial; see the module notes. `structure` (the cached
    BODYSTRUCTURE) is needed only for HEADER/TEXT after a part number."""
    path, text = section.part, section.text
    if text is None or text == "MIME":
        if not path:
            return raw  # BODY[] (MIME needs a part number; the parser makes sure)
        span = part_offsets(raw, list(path))
        if span is None:
            return b""
        start, body, end = span
        return raw[start:body] if text == "MIME" else raw[body:end]
    message = raw
    if path:
        node = structure_at(structure, path) if structure is not None else None
        span = part_offsets(raw, list(path))
        if node is None or span is None or not is_message(node):
            return b""
        message = raw[span[1]:span[2]]
    header, body = split_header(message)
    if text == "TEXT":
        return body
    return header_text(header, section)


def header_text(header: bytes, section: Section) -> bytes:
    """HEADER, HEADER.FIELDS or HEADER.FIELDS.NOT of a header block."""
    if section.text == "HEADER":
        return header
    return header_fields(header, section.fields, exclude=section.text == "HEADER.FIELDS.NOT")


def binary_section(raw: bytes, structure: list, section: Section) -> bytes:
    """BINARY[section] without the partial; see the module notes."""
    path = section.part
    node = structure_at(structure, path)
    span = part_offsets(raw, list(path))
    if node is None or span is None:
        return b""
    start, body, end = span
    if is_multipart(node):
        return raw[start:end] if not path else raw[body:end]
    decoded = decode_transfer(raw[body:end], str(node[5]) if len(node) > 5 else None)
    if decoded is None:
        raise UnknownCTE(section, str(node[5]))
    return raw[start:body] + decoded if not path else decoded
