"""What a POP3 command line says: its keyword and arguments, and the numbers they hold.

Implementation notes:
- Pure: no Twisted, no store. The session looks the keyword up in its command table.
- RFC 1939 3 / RFC 2449 3: a keyword of three or four characters, case-insensitive, then
  arguments separated by spaces. We accept runs of spaces (and tabs) between arguments, as
  most servers do; PASS takes the whole rest of the line as its one argument, spaces
  included (RFC 1939 7: "a server may treat spaces in the argument as part of the
  password").
- The line must be UTF-8 (logins may be internationalised addresses) without NUL or other
  control characters; anything else is refused before any command runs.
- Numbers (message numbers, TOP's line count) are plain decimal digits, at most 10 of them:
  no sign, no spaces, no hex. Whether a message number exists is the maildrop's question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DIGITS = 10
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_KEYWORD = re.compile(r"[A-Za-z]{3,4}")
REST_OF_LINE = frozenset({"PASS"})


class CommandError(ValueError):
    """A line that is not a command: the session answers -ERR with the message."""


@dataclass(frozen=True)
class Command:
    """One client command: `name` uppercased ("RETR"), `args` as sent."""

    name: str
    args: tuple[str, ...] = ()


def parse_command(line: bytes) -> Command:
    """The command on `line` (without its CRLF); CommandError when it is none."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("Command is not valid UTF-8") from None
    if _CONTROL.search(text):
        raise CommandError("Control characters are not allowed in a command")
    keyword, _, rest = text.partition(" ")
    keyword = keyword.strip()
    if not keyword:
        raise CommandError("Empty command")
    if not _KEYWORD.fullmatch(keyword):
        raise CommandError("Unknown command")
    name = keyword.upper()
    if name in REST_OF_LINE:
        return Command(name, (rest,) if rest else ())
    return Command(name, tuple(rest.split()))


def number(text: str) -> int | None:
    """A decimal number as RFC 1939 writes them (digits only), or None."""
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)
