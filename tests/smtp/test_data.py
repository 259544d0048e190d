"""The DATA reader: the end marker, dot-unstuffing, size, and bare CR/LF (smuggling)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfserver.smtp.data import DataReader, bare_line_ends, long_header_line


def read(chunks: list[bytes], limit: int = 10_000) -> tuple[DataReader, bytes | None]:
    reader = DataReader(limit)
    for index, chunk in enumerate(chunks):
        rest = reader.feed(chunk)
        if rest is not None:
            return reader, rest + b"".join(chunks[index + 1:])
    return reader, None


def test_a_message_ends_at_crlf_dot_crlf_and_what_follows_is_kept() -> None:
    reader, rest = read([b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"])
    assert reader.message == b"Subject: x\r\n\r\nbody\r\n"
    assert rest == b"QUIT\r\n"


def test_an_empty_message() -> None:
    reader, rest = read([b".\r\n"])
    assert reader.done and reader.message == b"" and rest == b""


def test_dots_are_unstuffed() -> None:
    reader, _ = read([b"..leading\r\n...two\r\nmid.dle\r\n.\r\n"])
    assert reader.message == b".leading\r\n..two\r\nmid.dle\r\n"


@given(st.integers(min_value=1, max_value=40))
def test_the_end_is_found_across_any_split(split: int) -> None:
    data = b"a\r\n..b\r\nc\r\n.\r\nNOOP\r\n"
    reader, rest = read([data[:split], data[split:]])
    assert reader.done and reader.message == b"a\r\n.b\r\nc\r\n"
    assert rest == b"NOOP\r\n"


def test_byte_by_byte() -> None:
    data = b"x\r\n.y\r\n\r\n.\r\nrest"
    reader = DataReader(100)
    out = None
    for index in range(len(data)):
        out = reader.feed(data[index:index + 1])
        if out is not None:
            out += data[index + 1:]
            break
    assert reader.message == b"x\r\ny\r\n\r\n" and out == b"rest"


@pytest.mark.parametrize("data", [
    b"one\n.\nMAIL FROM:<x@y.example>\r\n",         # <LF>.<LF>
    b"one\r\n.\nMAIL FROM:<x@y.example>\r\n",       # <CRLF>.<LF>
    b"one\n.\r\nMAIL FROM:<x@y.example>\r\n",       # <LF>.<CRLF>
    b"one\r.\rMAIL FROM:<x@y.example>\r\n",         # <CR>.<CR>
    b"one\r\n.\rMAIL FROM:<x@y.example>\r\n",       # <CRLF>.<CR>
    b"one\r.\r\nMAIL FROM:<x@y.example>\r\n.\r\n",  # <CR>.<CRLF>
    b"bare\rcr inside a line\r\n.\r\n",
    b"bare lf\n.\r\n",
])
def test_bare_cr_or_lf_stops_the_reader(data: bytes) -> None:
    reader, rest = read([data])
    assert reader.bare_line_end and rest == b"" and reader.message == b""


def test_bare_cr_without_any_lf_yet() -> None:
    reader, rest = read([b"abc\rdef"])
    assert reader.bare_line_end


def test_a_cr_at_the_end_of_a_chunk_waits_for_its_lf() -> None:
    reader, rest = read([b"abc\r", b"\n.\r\n"])
    assert not reader.bare_line_end and reader.message == b"abc\r\n"


def test_too_big_keeps_reading_to_the_end_but_stores_nothing() -> None:
    reader, rest = read([b"x" * 50 + b"\r\n", b"y" * 100 + b"\r\n", b".\r\nNOOP\r\n"], limit=60)
    assert reader.done and reader.too_big and reader.message == b"" and rest == b"NOOP\r\n"


def test_an_endless_line_costs_no_memory() -> None:
    reader = DataReader(100)
    for _ in range(100):
        assert reader.feed(b"z" * 10_000) is None
    assert reader.too_big and len(reader._pending) <= 1
    assert reader.feed(b"\r\n.\r\n") == b""


def test_helpers() -> None:
    assert bare_line_ends(b"a\nb") and bare_line_ends(b"a\rb") and not bare_line_ends(b"a\r\n")
    assert long_header_line(b"X: " + b"a" * 996 + b"\r\n\r\nbody")
    assert not long_header_line(b"X: a\r\n\r\n" + b"b" * 5000)
