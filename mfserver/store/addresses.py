"""RFC 5322 address lists as IMAP ENVELOPE address structures (RFC 3501 7.4.2).

Implementation notes
--------------------
- Pure and total: `parse_address_list` accepts any text and never raises.  Input from
  the internet is garbage as often as not (unterminated quotes and comments, stray
  brackets, missing domains); every token is consumed exactly once, so the work is
  linear in the length of the field, and only the first `MAX_FIELD_CHARS` characters
  of a field are read, which bounds the memory held by the token list.
- An address is ``[name, adl, mailbox, host]``: ``None`` stands for NIL.  `adl` is the
  obsolete source route (``"@a,@b"``, RFC 5322 4.4) and is ``None`` nearly always.
- RFC 3501 group syntax: ``[None, None, "group name", None]`` opens a group and
  ``[None, None, None, None]`` closes it.  A group left open at the end of the field
  is closed.  An address without a domain gets ``host="MISSING_DOMAIN"`` as Dovecot
  writes it: a NIL host would read as the opening of a group (`MISSING_HOST`).
- Text is kept as written: RFC 2047 encoded-words are not decoded (IMAP clients do
  that), quoted strings lose their quotes and backslash escapes, a display name keeps
  the spacing it had between its words, and an addr-spec is joined without the
  folding whitespace RFC 5322 4.4 allows around its dots.
- With no display name, a trailing comment (``user@host (Real Name)``) serves as the
  name, as Dovecot and c-client do.  Items that hold no mailbox at all (``, ,`` or a
  lone comment) are dropped rather than reported as placeholders.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_FIELD_CHARS = 256 * 1024
MISSING_HOST: str | None = "MISSING_DOMAIN"

Address = list  # [name, adl, mailbox, host], each str | None


class _Token(NamedTuple):
    kind: str  # "atom", "quoted", "literal", "comment" or "special"
    value: str
    spaced: bool  # whitespace or a comment stood before it


_WS = re.compile(r"[ \t\r\n]+")
# Unrolled loops (no nested repeats): an unterminated string runs to the end.
_QUOTED = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)(?:"|\\?\Z)', re.S)
_LITERAL = re.compile(r"\[[^\]\\]*(?:\\.[^\]\\]*)*(?:\]|\\?\Z)", re.S)
_ATOM = re.compile(r'[^ \t\r\n"()\[\]<>@,;:.\\]+')
_COMMENT_PIECE = re.compile(r"[^()\\]+|\\.?|[()]", re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_SPECIALS = frozenset('<>@,;:.\\])')


def _comment(text: str, pos: int) -> tuple[int, str]:
    """The end of the (nested) comment opening at `pos`, and its text without the outer
    parentheses (RFC 5322 3.2.2).  An unterminated comment runs to the end."""
    depth, pieces = 0, []
    for match in _COMMENT_PIECE.finditer(text, pos):
        piece = match.group()
        if piece == "(":
            depth += 1
            if depth == 1:
                continue
        elif piece == ")":
            depth -= 1
            if depth == 0:
                return match.end(), "".join(pieces)
        elif piece.startswith("\\"):
            piece = piece[1:]
        pieces.append(piece)
    return len(text), "".join(pieces)


def lex(text: str) -> list[_Token]:
    """Split a structured header value into RFC 5322 3.2 lexical tokens."""
    tokens: list[_Token] = []
    pos, end, spaced = 0, len(text), False
    while pos < end:
        char = text[pos]
        if char in " \t\r\n":
            pos = _WS.match(text, pos).end()
            spaced = True
            continue
        if char == "(":
            pos, inner = _comment(text, pos)
            tokens.append(_Token("comment", inner, spaced))
            spaced = True
            continue
        if char == '"':
            match = _QUOTED.match(text, pos)
            token = _Token("quoted", _ESCAPE.sub(r"\1", match.group(1)), spaced)
        elif char == "[":
            match = _LITERAL.match(text, pos)
            token = _Token("literal", match.group(), spaced)
        elif char in _SPECIALS:
            match = None
            token = _Token("special", char, spaced)
        else:
            match = _ATOM.match(text, pos)
            token = _Token("atom", match.group(), spaced)
        pos = match.end() if match else pos + 1
        if token.value != ")":  # a stray closing parenthesis is noise
            tokens.append(token)
        spaced = False
    return tokens


def _is(token: _Token, chars: str) -> bool:
    return token.kind == "special" and token.value in chars


def _phrase(words: list[_Token]) -> str | None:
    """A display name as written: words joined by one space where the source had space."""
    pieces: list[str] = []
    for word in words:
        if pieces and word.spaced:
            pieces.append(" ")
        pieces.append(word.value)
    return "".join(pieces) or None


def _addr_spec(tokens: list[_Token]) -> tuple[str | None, str, str | None]:
    """(adl, mailbox, host) from the tokens of an addr-spec, with an optional obsolete
    route in front (RFC 5322 4.4 obs-route: ``@a,@b:user@host``)."""
    adl = None
    if tokens and _is(tokens[0], "@"):
        colon = next((i for i, t in enumerate(tokens) if _is(t, ":")), None)
        if colon is not None:
            adl = "".join(t.value for t in tokens[:colon]) or None
            tokens = tokens[colon + 1:]
    at = next((i for i, t in enumerate(tokens) if _is(t, "@")), None)
    if at is None:
        if any(t.spaced for t in tokens[1:]):
            return adl, _phrase(tokens) or "", MISSING_HOST
        return adl, "".join(t.value for t in tokens), MISSING_HOST
    mailbox = "".join(t.value for t in tokens[:at])
    host = "".join(t.value for t in tokens[at + 1:]) or MISSING_HOST
    return adl, mailbox, host


def _mailbox(item: list[_Token], angle: list[_Token] | None) -> Address | None:
    comments = [t.value for t in item if t.kind == "comment"]
    words = [t for t in item if t.kind != "comment"]
    if angle is not None:  # name-addr: [phrase] "<" addr-spec ">"
        name = _phrase(words) or (comments[0] if comments else None)
        adl, mailbox, host = _addr_spec([t for t in angle if t.kind != "comment"])
        return [name, adl, mailbox, host]
    if not words:
        return None
    adl, mailbox, host = _addr_spec(words)
    return [comments[-1] if comments else None, adl, mailbox, host]


def parse_address_list(text: str | None) -> list[Address] | None:
    """RFC 5322 3.4 address-list -> IMAP address list, or None (NIL) when it holds none."""
    if not text:
        return None
    tokens = lex(text[:MAX_FIELD_CHARS])
    out: list[Address] = []
    in_group = False
    pos, count = 0, len(tokens)
    while pos < count:
        item: list[_Token] = []
        angle: list[_Token] | None = None
        while pos < count and not _is(tokens[pos], ",;:"):
            token = tokens[pos]
            pos += 1
            if _is(token, "<") and angle is None:
                angle = []
                while pos < count and not _is(tokens[pos], ">"):
                    angle.append(tokens[pos])
                    pos += 1
                pos += 1
            elif not _is(token, ">"):
                item.append(token)
        delimiter = tokens[pos].value if pos < count else None
        pos += 1
        if delimiter == ":" and not in_group and angle is None:
            # RFC 5322 3.4 group = display-name ":" [group-list] ";"
            out.append([None, None, _phrase([t for t in item if t.kind != "comment"]) or "", None])
            in_group = True
            continue
        address = _mailbox(item, angle)
        if address is not None:
            out.append(address)
        if delimiter == ";" and in_group:
            out.append([None, None, None, None])
            in_group = False
    if in_group:
        out.append([None, None, None, None])
    return out or None
