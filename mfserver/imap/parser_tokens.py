"""The productions of RFC 3501 section 9 that every command shares, read from one command.

Implementation notes:
- A `Reader` is a cursor over the bytes of one complete command (CRLF removed, literals in
  place). Each method reads one production at the cursor and moves past it, or raises
  `ParseError` with the command's tag. Nothing here raises anything else: numbers are
  length-checked before `int()`, dates are range-checked, decoding errors are caught.
- Literals are consumed by count (`{n}` CRLF, then exactly n octets), never by scanning, so
  their content can never be taken for syntax.
- Regular expressions run over the bytes at the cursor. The quoted-string pattern uses
  possessive quantifiers so a long unterminated string fails in linear time.
- Strict where RFC 3501 is: exactly one SP between tokens (`sp`), atoms are 7-bit without
  atom-specials, tags are astring characters except "+", quoted strings know only the
  escapes \\" and \\\\ and hold no CR, LF or NUL, non-zero numbers have no leading zero,
  numbers are below 2^32 (`number`) or 2^63 (`number64`, RFC 9051 / RFC 7162 mod-sequences).
- Lenient where clients need it, and nowhere else:
  * keywords (command names, options, search keys, items) are case-insensitive (RFC 3501 9:
    "Except as noted otherwise, all alphabetic characters are case-insensitive");
  * spaces at the very end of a command are ignored (`end`, `more`): RFC 3501 makes them
    a BAD, but they are unambiguous, so refusing them would only break a client that sends
    one (hand-typed sessions do); a literal's content is never taken for trailing space;
  * 8-bit octets are accepted in a quoted string when they are UTF-8 (RFC 9051 / RFC 6855
    allow them once UTF8=ACCEPT is enabled; accepting valid UTF-8 earlier harms nobody), and
    every string, quoted or literal, must decode as UTF-8 ("string is not valid UTF-8");
  * a date-time day may be one digit without its leading space ("7-Feb-1994 ...").
- Mailbox names: modified UTF-7 (RFC 3501 5.1.3) decoded by `mutf7`, or taken as UTF-8 when
  the session enabled UTF8=ACCEPT (RFC 6855 3: names are then sent as UTF-8, "&" is itself);
  8-bit octets in a name without UTF8=ACCEPT are refused. "INBOX" in any ASCII case becomes
  "INBOX" (RFC 3501 5.1); nothing else about a name is judged here.
- Bounded work: `enter` keeps nesting at most `MAX_DEPTH` deep and `count` allows at most
  `MAX_ITEMS` list items / search keys per command; sequence sets are bounded only by the
  line length the protocol allows and are read by one regular expression.
- Error messages are short and never echo what the client sent, except through `shown`,
  which lets only short runs of printable ASCII through (they end up in a resp-text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

from mfserver.imap import mutf7
from mfserver.imap.commands import ParseError
from mfserver.imap.syntax import SequenceSet

T = TypeVar("T")

MAX_DEPTH = 64  # parentheses, NOT and OR operands, nested
MAX_ITEMS = 10_000  # list items and search keys in one command
MAX_NUMBER = 2**32 - 1  # RFC 3501 9: number, nz-number
MAX_NUMBER64 = 2**63 - 1  # RFC 9051 9: number64; RFC 7162 7: mod-sequence-value

SP = 0x20
_OPEN, _CLOSE, _DQUOTE, _BACKSLASH = b"(", b")", b'"', b"\\"

# RFC 3501 9: ATOM-CHAR is any CHAR except atom-specials: ( ) { SP CTL % * " \ ]
_ATOM = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]+')
_ASTRING_ATOM = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\]+')  # ASTRING-CHAR: adds "]"
_LIST_CHARS = re.compile(rb'[^\x00-\x20\x7f-\xff(){"\\]+')  # list-char: adds % * ]
_TAG = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\+]+')  # tag: ASTRING-CHAR except "+"
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]++|\\["\\])*+)"')
_ESCAPE = re.compile(rb'\\(["\\])')
_LITERAL = re.compile(rb"(~?)\{([0-9]+)(\+?)\}\r\n")  # RFC 7888 "+", RFC 3516 "~"
_DIGITS = re.compile(rb"[0-9]+")
_SEQ_NUMBER = rb"(?:[0-9]+|\*)"
_SEQ_RANGE = _SEQ_NUMBER + rb"(?::" + _SEQ_NUMBER + rb")?"
_SEQ_SET = re.compile(_SEQ_RANGE + rb"(?:," + _SEQ_RANGE + rb")*+")
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_DATE_TIME = re.compile(  # RFC 3501 9: date-time, with the one-digit day allowed too
    rb'"( ?[0-9]|[0-9]{2})-([A-Za-z]{3})-([0-9]{4}) '
    rb'([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"')

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_SYSTEM_FLAGS = {name.lower(): name for name in (
    "\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")}


def is_tag(text: bytes) -> bool:
    """Whether `text` is a tag (RFC 3501 9), fit to be echoed in a tagged response."""
    return _TAG.fullmatch(text) is not None


def shown(text: str, limit: int = 32) -> str:
    """`text` if it is safe and short enough to quote in a response, else "?"."""
    if text and len(text) <= limit and all("\x21" <= ch <= "\x7e" for ch in text):
        return text
    return "?"


class Reader:
    """A cursor over one command; see the module notes for what each method accepts."""

    def __init__(self, data: bytes, *, utf8: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.tag: str | None = None
        self.utf8 = utf8
        self.depth = 0
        self.items = 0
        # data[:_content_end] ends in a non-space octet: what follows is trailing spaces
        self._content_end = len(data.rstrip(b" "))

    # --- errors and limits ---------------------------------------------------------------

    def error(self, message: str) -> ParseError:
        return ParseError(self.tag, message)

    def fail(self, message: str) -> ParseError:
        """`message`, or "missing argument" when the command ended where something was due."""
        return self.error("missing argument" if self.at_end() else message)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("nesting too deep")

    def leave(self) -> None:
        self.depth -= 1

    def count(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise self.error("too many items")

    # --- position ------------------------------------------------------------------------

    def at_end(self) -> bool:
        """Nothing but (ignored) trailing spaces left."""
        return self.pos >= len(self.data) or (
            self.pos >= self._content_end and self.data[self.pos] == SP)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def startswith(self, prefix: bytes) -> bool:
        return self.data.startswith(prefix, self.pos)

    def more(self) -> bool:
        """Whether a SP and another token follow (a trailing SP is not "more")."""
        return self.peek() == SP and self.pos + 1 < self._content_end

    def take(self, prefix: bytes) -> bool:
        if self.data.startswith(prefix, self.pos):
            self.pos += len(prefix)
            return True
        return False

    def sp(self) -> None:
        """Exactly one SP (RFC 3501 9 has no optional whitespace)."""
        if self.peek() == SP and not self.at_end():
            self.pos += 1
            return
        byte = self.peek()
        if byte is not None and byte >= 0x80:
            raise self.error("8-bit character outside a string")
        raise self.fail("expected a space")

    def open(self) -> None:
        if not self.take(_OPEN):
            raise self.fail("expected '('")

    def close(self) -> None:
        if not self.take(_CLOSE):
            raise self.error("unbalanced parenthesis" if self.at_end() else "expected ')'")

    def end(self) -> None:
        """The command must end here (trailing spaces forgiven, see the module notes)."""
        if not self.at_end():
            if self.data[self.pos:self.pos + 2].lstrip(b" ").startswith(_CLOSE):
                raise self.error("unbalanced parenthesis")
            raise self.error("unexpected data at end of command")

    def each(self, *, empty: bool = False) -> Iterator[None]:
        """Steps through "(" item *(SP item) ")": the caller reads one item per step.

        "()" is refused unless `empty`; every item counts towards `MAX_ITEMS`.
        """
        self.open()
        if self.take(_CLOSE):
            if not empty:
                raise self.error("empty list")
            return
        while True:
            self.count()
            yield
            if self.take(_CLOSE):
                return
            if self.at_end():
                raise self.error("unbalanced parenthesis")
            self.sp()

    def parenthesized(self, item: Callable[[], T], *, empty: bool = False) -> list[T]:
        """ "(" item *(SP item) ")" as a list of what `item` read."""
        return [item() for _ in self.each(empty=empty)]

    # --- atoms and words -----------------------------------------------------------------

    def tag_(self) -> str:
        """RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">; the error has no tag."""
        match = _TAG.match(self.data)
        if match is None or (match.end() < len(self.data) and self.data[match.end()] != SP):
            raise ParseError(None, "missing tag" if not self.data.strip(b" ") else "invalid tag")
        self.pos = match.end()
        return match.group().decode("ascii")

    def atom(self, message: str) -> str:
        match = _ATOM.match(self.data, self.pos)
        if match is None:
            raise self.fail(message)
        self.pos = match.end()
        return match.group().decode("ascii")

    def keyword(self, message: str) -> str:
        """An atom compared case-insensitively: returned uppercased (ASCII only)."""
        return self.atom(message).upper()

    def number(self, limit: int = MAX_NUMBER, *, nonzero: bool = False) -> int:
        """RFC 3501 number (1*DIGIT) or, with `nonzero`, nz-number (no leading zero)."""
        match = _DIGITS.match(self.data, self.pos)
        if match is None:
            raise self.fail("expected a number")
        digits = match.group()
        if nonzero and digits[0] == 0x30:
            raise self.error("expected a non-zero number")
        if len(digits) > 20 or int(digits) > limit:
            raise self.error("number too large")
        self.pos = match.end()
        return int(digits)

    def number64(self, *, nonzero: bool = False) -> int:
        return self.number(MAX_NUMBER64, nonzero=nonzero)

    def digits(self, *, nonzero: bool = False) -> int | None:
        """A number below 2^32 at the cursor, or None (and the cursor unmoved) if there is
        none, or it has a leading zero when `nonzero`, or it is too large."""
        match = _DIGITS.match(self.data, self.pos)
        if match is None:
            return None
        digits = match.group()
        if (nonzero and digits[0] == 0x30) or len(digits) > 10 or int(digits) > MAX_NUMBER:
            return None
        self.pos = match.end()
        return int(digits)

    # --- strings -------------------------------------------------------------------------

    def text(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("string is not valid UTF-8") from None

    def quoted(self) -> bytes:
        match = _QUOTED.match(self.data, self.pos)
        if match is None:
            raise self.error("invalid quoted string")
        self.pos = match.end()
        content = match.group(1)
        return _ESCAPE.sub(rb"\1", content) if b"\\" in content else content

    def literal(self, *, binary: bool = False, nul: bool = False) -> tuple[bytes, bool]:
        """A literal's content and whether it was a literal8 (`~{n}`, RFC 3516).

        A literal8 is refused unless `binary`; NUL is refused in a literal (RFC 3501 9,
        CHAR8) unless `nul`.
        """
        match = _LITERAL.match(self.data, self.pos)
        if match is None:
            raise self.error("invalid literal")
        is_binary = bool(match.group(1))
        if is_binary and not binary:
            raise self.error("literal8 not allowed here")
        digits = match.group(2)
        if len(digits) > 19 or int(digits) > MAX_NUMBER64:
            raise self.error("invalid literal")
        size = int(digits)
        start = match.end()
        if start + size > len(self.data):
            raise self.error("literal shorter than announced")
        content = self.data[start:start + size]
        if not (is_binary or nul) and b"\x00" in content:
            raise self.error("NUL in literal")
        self.pos = start + size
        return content, is_binary

    def string_bytes(self) -> bytes:
        """RFC 3501 9: string = quoted / literal."""
        if self.peek() == _DQUOTE[0]:
            return self.quoted()
        if self._literal_ahead():
            return self.literal()[0]
        raise self.fail("expected a string")

    def _literal_ahead(self) -> bool:
        """A literal starts here: "{", or "~{" (a literal8; "~" alone is an ATOM-CHAR)."""
        return self.peek() == 0x7B or self.startswith(b"~{")

    def string(self) -> str:
        return self.text(self.string_bytes())

    def nil(self) -> bool:
        """Takes NIL (any case) if it is the next token."""
        if self.data[self.pos:self.pos + 3].upper() == b"NIL" and self._token_ends(self.pos + 3):
            self.pos += 3
            return True
        return False

    def nstring(self) -> str | None:
        return None if self.nil() else self.string()

    def word_ahead(self, word: bytes) -> bool:
        """Takes `word` (uppercase, any case on the wire) if it is followed by SP."""
        end = self.pos + len(word)
        if self.data[self.pos:end].upper() == word and self.data[end:end + 1] == b" ":
            self.pos = end
            return True
        return False

    def astring_bytes(self) -> bytes:
        """RFC 3501 9: astring = 1*ASTRING-CHAR / string."""
        if self.peek() == _DQUOTE[0] or self._literal_ahead():
            return self.string_bytes()
        match = _ASTRING_ATOM.match(self.data, self.pos)
        if match is None:
            byte = self.peek()
            if byte is not None and byte >= 0x80 and not self.at_end():
                raise self.error("8-bit character outside a string")
            raise self.fail("expected a string")
        self.pos = match.end()
        return match.group()

    def astring(self) -> str:
        return self.text(self.astring_bytes())

    def _token_ends(self, pos: int) -> bool:
        return pos >= len(self.data) or self.data[pos] in b" )"

    # --- mailboxes -----------------------------------------------------------------------

    def mailbox_name(self, raw: bytes) -> str:
        """The name `raw` stands for: modified UTF-7, or UTF-8 under UTF8=ACCEPT."""
        try:
            name = raw.decode("utf-8") if self.utf8 else mutf7.decode(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise self.error("invalid mailbox name encoding") from None
        if name.isascii() and name.upper() == "INBOX":  # RFC 3501 5.1
            return "INBOX"
        return name

    def mailbox(self) -> str:
        """RFC 3501 9: mailbox = "INBOX" / astring."""
        return self.mailbox_name(self.astring_bytes())

    def list_mailbox(self) -> str:
        """RFC 3501 9: list-mailbox = 1*list-char / string (atoms may hold % * ])."""
        if self.peek() == _DQUOTE[0] or self._literal_ahead():
            return self.mailbox_name(self.string_bytes())
        match = _LIST_CHARS.match(self.data, self.pos)
        if match is None:
            raise self.fail("expected a mailbox pattern")
        self.pos = match.end()
        return self.mailbox_name(match.group())

    # --- flags ---------------------------------------------------------------------------

    def flag(self) -> str:
        """RFC 3501 9: flag = "\\" atom (system flags and flag-extension) / flag-keyword.

        System flags come back in their canonical spelling. \\Recent is valid syntax here;
        that it cannot be stored is the store's to say.
        """
        if self.take(_BACKSLASH):
            name = "\\" + self.atom("invalid flag")
            return _SYSTEM_FLAGS.get(name.lower(), name)
        return self.atom("invalid flag")

    def flag_list(self) -> tuple[str, ...]:
        """RFC 3501 9: flag-list = "(" [flag *(SP flag)] ")"."""
        return tuple(self.parenthesized(self.flag, empty=True))

    # --- sequence sets -------------------------------------------------------------------

    def sequence_set(self, *, star: bool = True, saved: bool = True) -> SequenceSet:
        """RFC 3501 9 sequence-set, or "$" (RFC 5182 2.1) when `saved` is allowed."""
        if self.take(b"$"):
            if not saved:
                raise self.error("'$' not allowed here")
            if not self._token_ends(self.pos):
                raise self.error("invalid sequence set")
            return SequenceSet(saved=True)
        match = _SEQ_SET.match(self.data, self.pos)
        if match is None:
            raise self.fail("invalid sequence set")
        if not self._token_ends(match.end()):
            raise self.error("invalid sequence set")
        ranges = []
        for piece in match.group().split(b","):
            low, _, high = piece.partition(b":")
            first = self._seq_number(low, star)
            ranges.append((first, self._seq_number(high, star) if high else first))
        self.pos = match.end()
        return SequenceSet(tuple(ranges))

    def _seq_number(self, digits: bytes, star: bool) -> int | None:
        """RFC 3501 9: seq-number = nz-number / "*" (an nz-number is below 2^32)."""
        if digits == b"*":
            if not star:
                raise self.error("'*' not allowed here")
            return None
        if digits[0] == 0x30 or len(digits) > 10 or int(digits) > MAX_NUMBER:
            raise self.error("invalid sequence set")
        return int(digits)

    # --- dates ---------------------------------------------------------------------------

    def date(self) -> date:
        """RFC 3501 9: date = date-text / DQUOTE date-text DQUOTE (for SEARCH)."""
        if self.peek() == _DQUOTE[0]:
            raw = self.quoted()
        else:
            raw = self.atom("invalid date").encode("ascii")
        match = _DATE.fullmatch(raw)
        if match is None:
            raise self.error("invalid date")
        day, month, year = match.groups()
        try:
            return date(int(year), _month(month), int(day))
        except ValueError:
            raise self.error("invalid date") from None

    def date_time(self) -> datetime:
        """RFC 3501 9: date-time, as a timezone-aware datetime (APPEND)."""
        match = _DATE_TIME.match(self.data, self.pos)
        if match is None:
            raise self.fail("invalid date-time")
        day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        try:
            offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
            if int(zone_m) > 59 or int(second) > 60:
                raise ValueError("out of range")
            zone = timezone(-offset if sign == b"-" else offset)
            result = datetime(int(year), _month(month), int(day), int(hour), int(minute),
                              min(int(second), 59), tzinfo=zone)  # 60: a leap second
        except (ValueError, OverflowError):
            raise self.error("invalid date-time") from None
        self.pos = match.end()
        return result


def _month(name: bytes) -> int:
    try:
        return MONTHS.index(name.decode("ascii").lower()) + 1
    except ValueError:
        raise ValueError("unknown month") from None
