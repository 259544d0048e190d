"""Reading a message after DATA or BDAT; pure, no reactor.

Implementation notes:
- DATA (RFC 5321 4.1.1.4, 4.5.2): the message ends at the first line that is a single "."
  and the line ends are CRLF. Dots that start a line are removed ("dot-unstuffing"). Only
  `<CRLF>.<CRLF>` ends a message.
- SMTP smuggling (CVE-2023-51764/51765/51766): another server may take `<LF>.<LF>`,
  `<CR>.<CR>`, `<LF>.<CR><LF>` or the like for the end of a message, so a message that holds
  one could carry a second, forged message past us or from us. RFC 5321 2.3.8 forbids CR and
  LF except as CRLF; a bare CR or a bare LF anywhere in DATA ends the connection with 521
  (Postfix's `smtpd_forbid_bare_newline = yes`), nothing of the transaction is kept, and
  whatever follows is never read as commands.
- Size (RFC 1870): the reader counts the unstuffed octets; past the limit it keeps finding
  the end but stores nothing more, so an oversized message costs no memory and the session
  answers 552 after the end.
- Memory: bytes not yet ended by LF stay in `_pending`; past the limit only its last octet is
  kept (the end marker needs a CRLF before it, so nothing else of it can matter).
- BDAT content (RFC 3030) is framed by counts, not by lines; `bare_line_ends` checks a whole
  message for the same bare CR/LF the DATA reader refuses, so no path lets one through.
"""

from __future__ import annotations

_END_AT_START = b".\r\n"
_END = b"\r\n.\r\n"

MAX_HEADER_LINE = 998  # RFC 5322 2.1.1, without the CRLF


def bare_line_ends(data: bytes | bytearray) -> bool:
    """True when `data` holds a CR not followed by LF or an LF not preceded by CR."""
    crlf = data.count(b"\r\n")
    return data.count(b"\n") != crlf or data.count(b"\r") != crlf


class DataReader:
    """Fed the bytes after `354`; says when the message has ended and what follows it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0               # unstuffed octets seen, stored or not
        self.bare_line_end = False  # the connection must be closed with 521
        self.done = False
        self._parts: list[bytes] = []
        self._pending = bytearray()

    @property
    def too_big(self) -> bool:
        return self.size > self.limit

    @property
    def message(self) -> bytes:
        return b"".join(self._parts)

    def feed(self, data: bytes) -> bytes | None:
        """Take more input. None: the message goes on. Bytes: it has ended (or a bare line
        end was found, see `bare_line_end`) and these are what came after it."""
        self._pending += data
        last = self._pending.rfind(b"\n")
        if last < 0:
            if b"\r" in self._pending[:-1]:
                return self._bare()
            if len(self._pending) > self.limit:
                self._count(len(self._pending) - 1)
                del self._pending[:-1]
            return None
        region = bytes(self._pending[:last + 1])
        rest = bytes(self._pending[last + 1:])
        if region.startswith(_END_AT_START):
            end = 0
        else:
            found = region.find(_END)
            end = found + 2 if found >= 0 else -1
        content = region if end < 0 else region[:end]
        if bare_line_ends(content if end < 0 else content + _END_AT_START):
            return self._bare()
        self._take(content)
        if end < 0:
            self._pending = bytearray(rest)
            return None
        self.done = True
        self._pending = bytearray()
        return region[end + len(_END_AT_START):] + rest

    def _bare(self) -> bytes:
        self.bare_line_end = True
        self.done = True
        self._parts.clear()
        self._pending = bytearray()
        return b""

    def _take(self, lines: bytes) -> None:
        """Unstuff complete lines (they start at a line start) and keep them if room is left."""
        if not lines:
            return
        if lines.startswith(b"."):
            lines = lines[1:]
        lines = lines.replace(b"\r\n.", b"\r\n")
        self._count(len(lines))
        if not self.too_big:
            self._parts.append(lines)
        else:
            self._parts.clear()

    def _count(self, octets: int) -> None:
        self.size += octets


def long_header_line(message: bytes) -> bool:
    """True when a line of the header section is longer than RFC 5322 allows."""
    end = message.find(b"\r\n\r\n")
    header = message if end < 0 else message[:end + 2]
    return any(len(line) > MAX_HEADER_LINE for line in header.split(b"\r\n"))
