"""RETR/TOP text: line ends, byte-stuffing, TOP's limit, chunk boundaries (pop3.transfer)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mfserver.pop3.transfer import MessageReader, MessageText
from mfserver.store import MessageNotFound
from mfserver.store.mime import normalize_crlf

SAMPLES = [
    b"",
    b"Subject: x\r\n\r\nbody\r\n",
    b"Subject: x\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast",
    b".Header-ish: first line has a dot\r\n\r\nbody",
    b"Subject: bare LF\n\n.dot\nline two\n",
    b"Subject: bare CR\r\rbody\rmore\r",
    b"Subject: mixed\r\n\nbody\r\n.\n\r.x\r",
    b"\r\nno header at all\r\n.dot\r\n",
    b"Subject: no body, no blank line",
    b"Subject: x\r\n\r\n" + b"".join(b".line %d\r\n" % n for n in range(50)),
]


def reference(raw: bytes, body_lines: int | None = None) -> bytes:
    """What RFC 1939 says the answer is, computed line by line."""
    text = normalize_crlf(raw)
    lines = text.split(b"\r\n") if text else []
    if text.endswith(b"\r\n"):
        lines.pop()
    if body_lines is not None and b"" in lines:
        lines = lines[:lines.index(b"") + 1 + body_lines]
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n"
                    for line in lines) + b".\r\n"


def run(raw: bytes, sizes: list[int], body_lines: int | None = None) -> bytes:
    text = MessageText(body_lines)
    out, position = [], 0
    for size in sizes:
        if text.done:
            break
        out.append(text.feed(raw[position:position + size]))
        position += size
    if position < len(raw) and not text.done:
        out.append(text.feed(raw[position:]))
    return b"".join(out) + text.finish()


@pytest.mark.parametrize("raw", SAMPLES)
def test_whole_message_in_one_chunk(raw):
    assert run(raw, [len(raw)]) == reference(raw)


@pytest.mark.parametrize("raw", SAMPLES)
@pytest.mark.parametrize("lines", [0, 1, 2, 100])
def test_top(raw, lines):
    assert run(raw, [len(raw)], lines) == reference(raw, lines)


@pytest.mark.parametrize("raw", SAMPLES)
def test_every_split_into_chunks_gives_the_same_text(raw):
    chances = random.Random(1939)
    for _ in range(40):
        sizes = [chances.randint(1, 4) for _ in range(len(raw))]
        lines = chances.choice([None, 0, 1, 3])
        assert run(raw, sizes, lines) == reference(raw, lines), (sizes, lines)


def test_byte_stuffing_examples():
    assert run(b".\r\n", [3]) == b"..\r\n.\r\n"
    assert run(b"a\r\n.\r\n.b", [1, 1, 1, 1, 1, 1, 1]) == b"a\r\n..\r\n..b\r\n.\r\n"
    assert run(b"no line end", [11]) == b"no line end\r\n.\r\n"


def test_top_stops_reading_once_it_has_its_lines():
    text = MessageText(1)
    assert text.feed(b"A: b\r\n\r\nfirst\r\nsecond\r\n") == b"A: b\r\n\r\nfirst\r\n"
    assert text.done
    assert text.feed(b"more") == b""
    assert text.finish() == b".\r\n"


class FakeStore:
    """The one Store method the reader uses: message_path (MessageNotFound for no file)."""

    def __init__(self, *paths: Path) -> None:
        self.paths = list(paths)

    def message_path(self, account_id: int, folder_id: int, uid: int) -> Path:
        if not self.paths:
            raise MessageNotFound("no such UID")
        return self.paths.pop(0) if len(self.paths) > 1 else self.paths[0]


def test_reader_streams_a_file_in_chunks(tmp_path):
    path = tmp_path / "message"
    raw = b"Subject: big\n\n" + b"".join(b".line %d\n" % n for n in range(5000))
    path.write_bytes(raw)
    reader = MessageReader(FakeStore(path), 1, 2, 3, chunk=1000)
    parts = [reader.start()]
    while not reader.finished:
        parts.append(reader.read())
    assert len(parts) > 10
    assert b"".join(parts) == reference(raw)


def test_reader_follows_a_rename_and_refuses_a_missing_file(tmp_path):
    path = tmp_path / "cur-name"
    path.write_bytes(b"Subject: moved\r\n\r\nbody\r\n")
    reader = MessageReader(FakeStore(tmp_path / "new-name", path), 1, 2, 3)
    assert reader.start().endswith(b"body\r\n.\r\n") and reader.finished
    with pytest.raises(MessageNotFound):
        MessageReader(FakeStore(tmp_path / "gone"), 1, 2, 3).start()
    with pytest.raises(MessageNotFound):
        MessageReader(FakeStore(), 1, 2, 3).start()
