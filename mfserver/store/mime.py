"""What an IMAP server caches about a message at delivery: RFC822.SIZE, the top-level
header, ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 7.4.2, RFC 9051 7.5.2), and the byte
offsets of numbered body sections (RFC 3501 6.4.5), so FETCH never reopens the file.

Implementation notes
--------------------
- Pure: bytes in, values out.  No Twisted, no database, no file I/O.
- Every offset, size and line count is taken on the CRLF-normalised message
  (`normalize_crlf`): that is what RFC822.SIZE counts, so a message stored with bare LFs
  gives the same numbers as one with CRLFs.  A line count is the number of LFs in the
  part's body, as Dovecot counts it.
- The MIME tree is cut at the byte level (RFC 2046 5.1.1): a delimiter is ``--boundary``
  at the start of a line followed only by optional SP/HT; the CRLF before it belongs to
  the delimiter, not to the part; preamble and epilogue are not parts; a missing close
  delimiter ends the last part at the end of its parent.  A multipart in which no part is
  found gets one empty text/plain part, as Dovecot does, because RFC 3501 requires one.
- `parse_message` never raises, whatever the bytes.  Work is bounded: containers nested
  deeper than `MAX_DEPTH`, or whose parts would take the message past `MAX_PARTS`, are
  reported as opaque application/octet-stream leaves.  Every scan of the message is a
  C-level ``find``/regex search over disjoint regions, linear in its size (times the
  depth); the Python-speed parsing of structured fields (MIME parameters, address lists)
  is capped per field (`MAX_FIELD_CHARS`) and per message (`MAX_STRUCTURED_CHARS`).
- Header bytes are handled as latin-1 ``str`` (a bijection with bytes), so a boundary
  round-trips to its exact bytes.  Values handed to IMAP are decoded as UTF-8, falling back
  to latin-1, and RFC 2047 encoded-words are kept as they are (RFC 3501 7.4.2).
- Representation: ``None`` is NIL, ``str`` a string, ``int`` a number, ``list`` a
  parenthesised list; everything is JSON-serialisable.  Body types, subtypes, encodings,
  disposition types and parameter names are upper-cased; parameter values kept as sent.
  A text/* part without a charset gets ``CHARSET US-ASCII`` appended (RFC 2045 5.2, as
  Dovecot does).  Content-Language is NIL, one string, or a list of strings.
- RFC 2231 parameters: continuations (``name*0``, ``name*1*`` ...) are joined.  A
  parameter with any encoded segment is presented as ``NAME*`` with its value still encoded
  (``charset'lang'%XX..``, as Dovecot presents it); plain segments joined into such a value
  are percent-encoded so the whole stays decodable, and ``''`` is put in front when the
  first segment carried no charset.  Plain continuations join into a plain ``NAME``.
- Where this deliberately differs from Dovecot 2.3 (checked by hand against it): Dovecot
  takes any line that starts with ``--boundary`` as a delimiter and cuts an unquoted
  ``boundary=----=_x`` at the '=', and it counts the delimiter's CRLF into a
  message/rfc822 part whose inner message ends in its header; here RFC 2046 is followed.
  Dovecot writes the invalid ``Content-Type: text`` as ``"text" ""``; here it is the
  RFC 2045 5.2 default.  Otherwise sizes and line counts agree to the octet.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from mfserver.store.addresses import parse_address_list

MAX_DEPTH = 32
MAX_PARTS = 5000
MAX_FIELD_CHARS = 64 * 1024  # of one structured field
MAX_STRUCTURED_CHARS = 256 * 1024  # of all of them in one message, see _Budget
_CONTENT_TYPE_FLOOR = 256  # what a Content-Type always gets, so the tree stays right

_DEFAULT_MEDIA = ("TEXT", "PLAIN", [("CHARSET", "US-ASCII")])
_DIGEST_MEDIA = ("MESSAGE", "RFC822", [])  # RFC 2046 5.1.5
_OPAQUE_MEDIA = ("APPLICATION", "OCTET-STREAM", [])


@dataclass(frozen=True)
class ParsedMessage:
    """A message as the IMAP index keeps it; see the module notes for the representation."""

    header: bytes  # top-level header block incl. its terminating empty line, CRLF
    size: int  # RFC822.SIZE: octets with every line ending counted as CRLF
    envelope: list
    body: list  # BODY, the non-extensible form
    bodystructure: list  # BODYSTRUCTURE, with extension data
    sent_date: datetime | None  # the Date: field, timezone-aware; None if absent or bad


# --- line endings and header blocks -------------------------------------------------

_EOL = re.compile(rb"\r\n|\r|\n")
_EOL_CLASS = rb"(?:\r\n|\r(?!\n)|\n)"
_BLANK_LINE = re.compile(_EOL_CLASS + _EOL_CLASS)
_FIELD_END = re.compile(rb"\r\n(?![ \t])")


def normalize_crlf(raw: bytes) -> bytes:
    """Every CRLF, bare LF and bare CR becomes CRLF (RFC 5322 2.1: lines end in CRLF)."""
    raw = bytes(raw)
    if b"\r" not in raw:
        return raw.replace(b"\n", b"\r\n")
    if raw.count(b"\r\n") == raw.count(b"\r") == raw.count(b"\n"):
        return raw
    return _EOL.sub(b"\r\n", raw)


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """(header block including the empty line that ends it, body), RFC 5322 2.1.

    Accepts CRLF, bare LF and bare CR line endings alike and returns slices of `raw`
    unchanged.  Without an empty line the whole input is header and the body is empty.
    """
    raw = bytes(raw)
    start = _EOL.match(raw)
    if start:
        return raw[: start.end()], raw[start.end():]
    blank = _BLANK_LINE.search(raw)
    if blank is None:
        return raw, b""
    return raw[: blank.end()], raw[blank.end():]


def header_fields(header: bytes, names: Iterable[str], *, exclude: bool = False) -> bytes:
    """RFC 3501 6.4.5 BODY[HEADER.FIELDS (names)] or, with `exclude`, HEADER.FIELDS.NOT.

    The fields whose names match (case-insensitively) or do not, each with its
    continuation lines exactly as written, in message order, then the empty CRLF line.
    A line without a colon has no name: it never matches, so only .NOT returns it.
    """
    wanted = {name.lower() for name in names}
    out: list[bytes] = []
    keep = exclude  # a continuation line before any field belongs to no name
    for line in normalize_crlf(header).split(b"\r\n"):
        if not line:
            break  # the empty line that ends the header (or the end of the input)
        if line[:1] not in (b" ", b"\t"):
            colon = line.find(b":")
            name = line[:colon].rstrip(b" \t").decode("latin-1").lower() if colon > 0 else None
            keep = (name in wanted) != exclude
        if keep:
            out.append(line + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


class _Fields:
    """First-occurrence lookup of named fields in one header block (RFC 5322 2.2).

    Each lookup is one regex search for ``\\n<name>[ \\t]*:`` over a lower-cased copy,
    so a header of millions of fields costs a few C-level scans, not a Python loop.
    """

    __slots__ = ("_raw", "_lower")
    _patterns: dict[str, re.Pattern[bytes]] = {}

    def __init__(self, block: bytes) -> None:
        self._raw = b"\n" + block
        self._lower = self._raw.lower()

    def get(self, name: str) -> str | None:
        """The unfolded value (CRLFs removed, RFC 5322 2.2.3), stripped, as latin-1 text."""
        pattern = self._patterns.get(name)
        if pattern is None:
            pattern = re.compile(b"\n" + re.escape(name.encode()) + rb"[ \t]*:")
            self._patterns[name] = pattern
        found = pattern.search(self._lower)
        if found is None:
            return None
        end = _FIELD_END.search(self._raw, found.end())
        value = self._raw[found.end(): end.start() if end else len(self._raw)]
        return value.replace(b"\r\n", b"").decode("latin-1").strip(" \t\r\n")


def _text(value: str) -> str:
    """Latin-1 header text -> the str handed to IMAP: UTF-8 if valid, else latin-1."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return value


def _upper(value: str) -> str:
    """ASCII-only upper case of latin-1 text (str.upper maps 'ÿ' out of latin-1)."""
    return value.upper() if value.isascii() else value.encode("latin-1").upper().decode("latin-1")


def _lower(value: str) -> str:
    return value.lower() if value.isascii() else value.encode("latin-1").lower().decode("latin-1")


def _nstring(value: str | None) -> str | None:
    return _text(value) if value else None


# --- MIME header fields (RFC 2045, 2183, 2231, 3066, 2557) --------------------------

_TOKEN = re.compile(r'[^\x00-\x20()<>@,;:\\"/\[\]?=\x7f]+')
_MEDIA = re.compile(f"({_TOKEN.pattern})[ \t]*/[ \t]*({_TOKEN.pattern})")
_SPACE = re.compile(r"[ \t\r\n]+")
_COMMENT_PIECE = re.compile(r"[^()\\]+|\\.?|[()]", re.S)
_PARAM = re.compile(
    r'([^=;\s"()]+)[ \t]*=[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)(?:"|\\?\Z)|([^;\s"()]*))', re.S
)
_ESCAPE = re.compile(r"\\(.)", re.S)
_SECTION = re.compile(r"(.+?)\*(\d{1,4})(\*?)")
_ATTRIBUTE_CHARS = "!#$&+-.^_`{|}~"  # RFC 2231 7 attribute-char, less ALPHA / DIGIT


class _Budget:
    """How much structured header text one message may still have parsed.  Real mail
    uses a few KiB; the cap keeps crafted mail (a To: of a million one-letter addresses)
    from costing Python-speed work for every byte.  Content-Type always gets a floor."""

    def __init__(self) -> None:
        self.left = MAX_STRUCTURED_CHARS

    def take(self, value: str, floor: int = 0) -> str:
        count = min(len(value), MAX_FIELD_CHARS, max(self.left, floor))
        self.left = max(self.left - count, 0)
        return value[:count]


def _skip_cfws(value: str, pos: int) -> int:
    """Skip whitespace and (nested) comments, RFC 5322 3.2.2; never past the end."""
    while pos < len(value):
        if value[pos] in " \t\r\n":
            pos = _SPACE.match(value, pos).end()
        elif value[pos] == "(":
            depth = 0
            for piece in _COMMENT_PIECE.finditer(value, pos):
                depth += (piece.group() == "(") - (piece.group() == ")")
                if depth == 0:
                    pos = piece.end()
                    break
            else:
                return len(value)
        else:
            break
    return pos


def _raw_params(value: str, pos: int) -> list[tuple[str, str]]:
    """RFC 2045 5.1 ``*(";" parameter)``, leniently: a bare value runs to the next
    space, ';' or comment (so ``boundary=----=_Part_1`` works), junk up to ';' is skipped."""
    params: list[tuple[str, str]] = []
    while True:
        pos = _skip_cfws(value, pos)
        if pos >= len(value):
            return params
        if value[pos] == ";":
            pos += 1
            continue
        found = _PARAM.match(value, pos)
        if found is None:
            pos = value.find(";", pos)
            if pos < 0:
                return params
            continue
        quoted = found.group(2)
        params.append((_lower(found.group(1)),
                       _ESCAPE.sub(r"\1", quoted) if quoted is not None else found.group(3)))
        pos = found.end()


def _percent(value: str) -> str:
    """RFC 2231 4 extended-other-values: what is not an attribute-char becomes %XX."""
    return urllib.parse.quote(value.encode("latin-1"), safe=_ATTRIBUTE_CHARS)


def _params(value: str, pos: int) -> list[tuple[str, str]]:
    """Parameters with RFC 2231 3 continuations joined, in order of first appearance.
    Names are upper-cased; see the module notes for how encoded values are shown."""
    out: list[tuple[str, str] | str] = []
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, val in _raw_params(value, pos):
        split = _SECTION.fullmatch(name)
        if split is None:
            out.append((_upper(name), val))
            continue
        base = split.group(1)
        if base not in sections:
            sections[base] = {}
            out.append(base)  # placeholder, filled in below
        sections[base].setdefault(int(split.group(2)), (val, bool(split.group(3))))
    joined: list[tuple[str, str]] = []
    for item in out:
        if isinstance(item, tuple):
            joined.append(item)
            continue
        segments = [sections[item][n] for n in sorted(sections[item])]
        if not any(encoded for _, encoded in segments):
            joined.append((_upper(item), "".join(val for val, _ in segments)))
            continue
        pieces = [] if segments[0][1] else ["''"]
        pieces.extend(val if encoded else _percent(val) for val, encoded in segments)
        joined.append((_upper(item) + "*", "".join(pieces)))
    return joined


def _media(
    value: str | None, in_digest: bool, budget: _Budget
) -> tuple[str, str, list[tuple[str, str]]]:
    """(TYPE, SUBTYPE, params) from Content-Type, RFC 2045 5.  A missing or invalid field
    gives the default: text/plain; charset=us-ascii (RFC 2045 5.2), or message/rfc822
    inside multipart/digest (RFC 2046 5.1.5)."""
    default = _DIGEST_MEDIA if in_digest else _DEFAULT_MEDIA
    if value is None:
        return default
    value = budget.take(value, _CONTENT_TYPE_FLOOR)
    found = _MEDIA.match(value, _skip_cfws(value, 0))
    if found is None:
        return default
    kind, subtype = _upper(found.group(1)), _upper(found.group(2))
    params = _params(value, found.end())
    if kind == "TEXT" and not any(name == "CHARSET" for name, _ in params):
        params.append(("CHARSET", "US-ASCII"))
    return kind, subtype, params


def _param_list(params: list[tuple[str, str]]) -> list | None:
    return [item for name, val in params for item in (name, _text(val))] or None


def _disposition(value: str | None, budget: _Budget) -> list | None:
    """RFC 2183 Content-Disposition as IMAP body-fld-dsp: (TYPE params) or NIL."""
    if not value:
        return None
    value = budget.take(value)
    found = _TOKEN.match(value, _skip_cfws(value, 0))
    if found is None:
        return None
    return [_text(_upper(found.group())), _param_list(_params(value, found.end()))]


def _language(value: str | None, budget: _Budget) -> str | list | None:
    """RFC 3282 Content-Language: NIL, one tag, or a list of tags."""
    if not value:
        return None
    value, tags, pos = budget.take(value), [], 0
    while pos < len(value):
        pos = _skip_cfws(value, pos)
        found = _TOKEN.match(value, pos)
        if found:
            tags.append(_text(found.group()))
            pos = found.end()
        else:
            pos += 1
    return None if not tags else tags[0] if len(tags) == 1 else tags


def _encoding(value: str | None) -> str:
    """RFC 2045 6.1 Content-Transfer-Encoding, upper-cased; 7BIT when absent."""
    if not value:
        return "7BIT"
    value = value[:_CONTENT_TYPE_FLOOR]
    found = _TOKEN.match(value, _skip_cfws(value, 0))
    return _text(_upper(found.group())) if found else "7BIT"


# --- the MIME tree ------------------------------------------------------------------


@dataclass(eq=False)
class _Part:
    """One node of the tree.  A message (the top level, or one inside message/rfc822) is
    a node whose header is the message header; offsets index the normalised message."""

    header_start: int
    body_start: int
    end: int
    fields: _Fields
    media: tuple[str, str, list[tuple[str, str]]]
    children: list[_Part] | None = None  # set for a multipart
    message: _Part | None = None  # set for message/rfc822: the encapsulated message
    opaque: bool = False  # a container not descended into (limits)


_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\Z)")
_MULTIPART = re.compile(r"[ \t]*multipart[ \t]*/", re.I)


class _Delimiter(NamedTuple):
    start: int  # where the part before it ends: its leading CRLF belongs to the delimiter
    after: int  # past the delimiter line and its CRLF: where the next part starts
    close: bool


def _header_end(data: bytes, start: int, end: int) -> int:
    """Where the body of the entity starting at `start` begins (RFC 5322 2.1)."""
    if data.startswith(b"\r\n", start, end):
        return start + 2
    blank = data.find(b"\r\n\r\n", start, end)
    return blank + 4 if blank >= 0 else end


def _delimiter_pattern(dash: bytes) -> re.Pattern[bytes]:
    return re.compile(b"\r\n" + re.escape(dash) + _DELIMITER_TAIL.pattern)


def _find_delimiter(
    data: bytes, dash: bytes, pattern: re.Pattern[bytes], pos: int, end: int
) -> _Delimiter | None:
    """The first RFC 2046 5.1.1 delimiter line at or after the line start `pos`:
    ``--boundary`` (``--boundary--`` to close) followed only by SP/HT up to CRLF.
    `pattern` is `_delimiter_pattern(dash)`: one C-level search, whatever the junk."""
    if data.startswith(dash, pos, end):
        tail = _DELIMITER_TAIL.match(data, pos + len(dash), end)
        if tail:
            return _Delimiter(pos, tail.end(), bool(tail.group(1)))
    found = pattern.search(data, pos, end)
    return _Delimiter(found.start(), found.end(), bool(found.group(1))) if found else None


class _TreeBuilder:
    """Cuts one normalised message into `_Part`s, counting them against MAX_PARTS."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.count = 0
        self.budget = _Budget()
        self._layouts: dict[tuple[int, int, bytes], tuple[list, int | None] | None] = {}

    def part(self, start: int, end: int, depth: int, in_digest: bool) -> _Part:
        """The entity (header and body) between `start` and `end`, `depth` levels down."""
        self.count += 1
        body_start = _header_end(self.data, start, end)
        fields = _Fields(self.data[start:body_start])
        media = _media(fields.get("content-type"), in_digest, self.budget)
        node = _Part(start, body_start, end, fields, media)
        kind, subtype, params = node.media
        if kind == "MULTIPART":
            self._descend_multipart(node, depth, subtype == "DIGEST", dict(params))
        elif (kind, subtype) == ("MESSAGE", "RFC822"):
            if depth >= MAX_DEPTH or self.count >= MAX_PARTS:
                node.opaque = True
            else:
                node.message = self.part(body_start, end, depth + 1, False)
        return node

    def _descend_multipart(self, node: _Part, depth: int, digest: bool, params: dict) -> None:
        boundary = params.get("BOUNDARY", "").encode("latin-1")
        regions: list[tuple[int, int]] | None = []
        if depth >= MAX_DEPTH:
            regions = None
        elif boundary:
            layout = self._layout(node.body_start, node.end, b"--" + boundary, depth)
            regions = layout[0] if layout else None
        if regions is None or len(regions) > MAX_PARTS - self.count:
            node.opaque = True
            return
        node.children = [self.part(s, e, depth + 1, digest) for s, e in regions]
        if not node.children:  # RFC 3501 body-type-mpart needs one part; Dovecot's choice
            empty = _Part(node.end, node.end, node.end, _Fields(b""), _DEFAULT_MEDIA)
            node.children.append(empty)

    def _layout(
        self, body: int, end: int, dash: bytes, depth: int
    ) -> tuple[list[tuple[int, int]], int | None] | None:
        """The (start, end) of each part of the multipart body starting at `body`, and the
        offset past its close delimiter (None if missing); None for more than MAX_PARTS.

        RFC 2046 5.1.2 forbids a nested multipart to reuse an enclosing boundary, but old
        mailers did; like Dovecot's boundary stack, such a part claims the delimiters up to
        its own close delimiter.  Results are memoised, so each level of nesting scans its
        stretch of the message once and the work stays linear times the depth.
        """
        key = (body, depth, dash)
        if key in self._layouts:
            return self._layouts[key]
        data, regions, pattern = self.data, [], _delimiter_pattern(dash)
        found = _find_delimiter(data, dash, pattern, body, end)
        while found is not None and not found.close and len(regions) <= MAX_PARTS:
            start = found.after
            found = _find_delimiter(data, dash, pattern, start, end)
            stop = found.start if found else end
            if depth < MAX_DEPTH and self._reuses(dash, start, stop):
                inner = self._layout(_header_end(data, start, stop), end, dash, depth + 1)
                close = inner[1] if inner else None
                found = None if close is None else _find_delimiter(data, dash, pattern, close, end)
                stop = found.start if found else end
            regions.append((start, stop))
        result = None
        if len(regions) <= MAX_PARTS:
            result = regions, found.after if found is not None and found.close else None
        self._layouts[key] = result
        return result

    def _reuses(self, dash: bytes, start: int, end: int) -> bool:
        """Whether the part at `start` is a multipart with the boundary `dash` again."""
        value = _Fields(self.data[start:_header_end(self.data, start, end)]).get("content-type")
        if value is None or not _MULTIPART.match(value):
            return False  # the common case, decided without parsing parameters
        params = dict(_media(value, False, self.budget)[2])
        return b"--" + params.get("BOUNDARY", "").encode("latin-1") == dash


# --- IMAP values --------------------------------------------------------------------


def _envelope(fields: _Fields, budget: _Budget) -> list:
    """RFC 3501 7.4.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc,
    in-reply-to, message-id.  Sender and Reply-To default to From when absent or empty."""

    def addresses(name: str) -> list | None:
        value = fields.get(name)
        return parse_address_list(_text(budget.take(value))) if value else None

    sender = addresses("from")
    return [
        _nstring(fields.get("date")),
        _nstring(fields.get("subject")),
        sender,
        addresses("sender") or sender,
        addresses("reply-to") or sender,
        addresses("to"),
        addresses("cc"),
        addresses("bcc"),
        _nstring(fields.get("in-reply-to")),
        _nstring(fields.get("message-id")),
    ]


def _extension(fields: _Fields, budget: _Budget) -> list:
    """The extension data that single parts and multiparts share (RFC 3501 7.4.2
    body-ext-1part / body-ext-mpart after md5 or parameters): disposition, language,
    location."""
    return [_disposition(fields.get("content-disposition"), budget),
            _language(fields.get("content-language"), budget),
            _nstring(fields.get("content-location"))]


def _structures(node: _Part, data: bytes, budget: _Budget) -> tuple[list, list]:
    """(BODY, BODYSTRUCTURE) of a node, RFC 3501 7.4.2, in one walk of the tree."""
    kind, subtype, params = _OPAQUE_MEDIA if node.opaque else node.media
    fields = node.fields
    if node.children is not None:
        pairs = [_structures(child, data, budget) for child in node.children]
        subtype = _text(subtype)
        body = [child_body for child_body, _ in pairs] + [subtype]
        structure = [child_structure for _, child_structure in pairs]
        structure += [subtype, _param_list(params), *_extension(fields, budget)]
        return body, structure
    body = [_text(kind), _text(subtype), _param_list(params),
            _nstring(fields.get("content-id")), _nstring(fields.get("content-description")),
            _encoding(fields.get("content-transfer-encoding")), node.end - node.body_start]
    structure = list(body)
    if node.message is not None:
        envelope = _envelope(node.message.fields, budget)
        inner_body, inner_structure = _structures(node.message, data, budget)
        lines = data.count(b"\n", node.body_start, node.end)
        body += [envelope, inner_body, lines]
        structure += [envelope, inner_structure, lines]
    elif kind == "TEXT":
        lines = data.count(b"\n", node.body_start, node.end)
        body.append(lines)
        structure.append(lines)
    structure += [_nstring(fields.get("content-md5")), *_extension(fields, budget)]
    return body, structure


def _sent_date(value: str | None) -> datetime | None:
    """RFC 5322 3.3 date-time, leniently; a date with no usable zone is taken as UTC."""
    if not value:
        return None
    try:
        date = parsedate_to_datetime(value[:1000])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return date if date.tzinfo is not None else date.replace(tzinfo=UTC)


def parse_message(raw: bytes) -> ParsedMessage:
    """Everything the IMAP index caches about `raw` at delivery.  Never raises."""
    data = normalize_crlf(raw)
    builder = _TreeBuilder(data)
    root = builder.part(0, len(data), 0, False)
    envelope = _envelope(root.fields, builder.budget)
    body, bodystructure = _structures(root, data, builder.budget)
    return ParsedMessage(
        header=data[: root.body_start],
        size=len(data),
        envelope=envelope,
        body=body,
        bodystructure=bodystructure,
        sent_date=_sent_date(root.fields.get("date")),
    )


def part_offsets(raw: bytes, section: list[int]) -> tuple[int, int, int] | None:
    """(part header start, part body start, part end) of a numbered section of the
    CRLF-normalised message `raw`, or None when there is no such part.

    RFC 3501 6.4.5: a message that is not multipart has one part, its body, so part 1's
    "MIME header" is the message header; the parts of a message/rfc822 part are those of
    the encapsulated message.  An empty `section` is the whole message.  For n.HEADER and
    n.TEXT of a message/rfc822 part, `split_header` the body of part n.
    """
    data = bytes(raw)
    container = _TreeBuilder(data).part(0, len(data), 0, False)
    if not section:
        return container.header_start, container.body_start, container.end
    for step, number in enumerate(section):
        if container.children is not None:
            if not 1 <= number <= len(container.children):
                return None
            part = container.children[number - 1]
        elif number == 1:
            part = container  # a message that is not multipart: part 1 is its body
        else:
            return None
        if step == len(section) - 1:
            return part.header_start, part.body_start, part.end
        if part.message is not None:
            container = part.message
        elif part.children is not None:
            container = part
        else:
            return None
    return None
