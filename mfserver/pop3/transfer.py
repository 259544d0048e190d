"""RETR and TOP: a message file turned into a POP3 multi-line response, a chunk at a time.

Implementation notes:
- `MessageText` is pure: bytes of the file in, bytes for the wire out. Every line end —
  CRLF, bare LF, bare CR — becomes CRLF, as `store.mime.normalize_crlf` does for the size in
  the index (files adopted by a rescan may have bare LF). A CR at the end of a chunk waits
  for the next one, so a CRLF split between two reads is still one line end.
- Byte-stuffing (RFC 1939 3): a line that starts with "." gets another "." in front. The
  response ends with CRLF "." CRLF; a message whose last line has no line end gets a CRLF
  first (RFC 1939 11: the terminator is not part of the message).
- TOP msg n (RFC 1939 7): the header, the empty line after it, and at most n lines of the
  body. Once they are out, `done` is set and the reader stops reading the file. A message
  without an empty line is all header.
- `MessageReader` blocks (it opens and reads the file): the session runs each of its calls in
  the thread pool and writes each chunk when the client can take it, so a big message never
  sits whole in memory and one slow reader never stalls the others. Opening and the first
  read are one call: a small message costs one trip to the pool.
"""

from __future__ import annotations

from typing import BinaryIO

from mfserver.store import MessageNotFound, Store
from mfserver.store.mime import normalize_crlf

CHUNK = 256 * 1024
TERMINATOR = b".\r\n"


class MessageText:
    """The wire form of one message, fed in chunks; `body_lines` limits the body (TOP)."""

    def __init__(self, body_lines: int | None = None) -> None:
        self.body_lines = body_lines
        self.done = False
        self._pending_cr = False
        self._line_start = True  # the next output octet starts a line
        self._in_header = True
        self._tail = b"\r\n"  # the last octets seen while looking for the header's end

    def feed(self, data: bytes) -> bytes:
        """Wire bytes for the next `data` of the file."""
        if self.done:
            return b""
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._pending_cr = True
        text = normalize_crlf(data)
        if self.body_lines is not None:
            text = self._limit(text)
        return self._stuff(text)

    def finish(self) -> bytes:
        """What ends the response once the file is read (or TOP has its lines)."""
        out = b""
        if self._pending_cr and not self.done:
            out = self._stuff(b"\r\n")
        self._pending_cr = False
        if not self._line_start:
            out += b"\r\n"
        self.done = True
        return out + TERMINATOR

    def _stuff(self, text: bytes) -> bytes:
        if not text:
            return text
        out = text.replace(b"\r\n.", b"\r\n..")
        if self._line_start and out.startswith(b"."):
            out = b"." + out
        self._line_start = out.endswith(b"\r\n")
        return out

    def _limit(self, text: bytes) -> bytes:
        """`text` up to the end of the header and `body_lines` more lines."""
        assert self.body_lines is not None
        position = 0
        if self._in_header:
            probe = self._tail + text
            found = probe.find(b"\r\n\r\n")
            if found < 0:
                self._tail = probe[-3:]
                return text
            self._in_header = False
            position = found + 4 - len(self._tail)
        while self.body_lines > 0:
            end = text.find(b"\r\n", position)
            if end < 0:
                return text
            position = end + 2
            self.body_lines -= 1
        self.done = True
        return text[:position]


class MessageReader:
    """Reads one message file for RETR or TOP; every method blocks (thread pool)."""

    def __init__(self, store: Store, account_id: int, folder_id: int, uid: int,
                 body_lines: int | None = None, chunk: int = CHUNK) -> None:
        self._store = store
        self._where = (account_id, folder_id, uid)
        self._chunk = chunk
        self._file: BinaryIO | None = None
        self.text = MessageText(body_lines)
        self.finished = False

    def start(self) -> bytes:
        """Open the file and read the first chunk; MessageNotFound when it is gone."""
        for attempt in range(2):
            path = self._store.message_path(*self._where)
            try:
                self._file = open(path, "rb")  # noqa: SIM115 - closed by read()/close()
                break
            except FileNotFoundError:  # renamed by another program after the lookup
                if attempt:
                    raise MessageNotFound(
                        f"the file of message {self._where[2]} is gone") from None
        return self.read()

    def read(self) -> bytes:
        """The next wire bytes; the last call (then `finished`) ends with the terminator."""
        assert self._file is not None
        data = self._file.read(self._chunk)
        out = self.text.feed(data) if data else b""
        if len(data) < self._chunk or self.text.done:  # a short read of a file is its end
            out += self.text.finish()
            self.close()
        return out

    def close(self) -> None:
        self.finished = True
        if self._file is not None:
            self._file.close()
            self._file = None
