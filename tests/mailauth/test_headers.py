"""Header fields as raw bytes: splitting, authors, authserv-ids."""

from __future__ import annotations

import pytest

from mfserver.mailauth.headers import (
    author_addresses,
    authserv_id_of,
    join_header,
    split_header,
)


def test_split_keeps_every_byte():
    message = b"A: 1\r\nB: two\r\n\tlines\r\nC:\r\n\r\nbody\r\n\r\nmore\r\n"
    fields, rest = split_header(message)
    assert [(f.name, f.raw) for f in fields] == [
        ("a", b"A: 1\r\n"), ("b", b"B: two\r\n\tlines\r\n"), ("c", b"C:\r\n")]
    assert rest == b"\r\nbody\r\n\r\nmore\r\n"
    assert join_header(fields, rest) == message
    assert fields[1].value == "two\tlines"


@pytest.mark.parametrize("message, names, rest", [
    (b"A: 1\nB: 2\n\nbody", ["a", "b"], b"\nbody"),
    (b"A: 1\r\nB: 2", ["a", "b"], b""),
    (b"A: 1\r\nnot a field\r\nB: 2\r\n", ["a"], b"not a field\r\nB: 2\r\n"),
    (b" leading space\r\nA: 1\r\n", [], b" leading space\r\nA: 1\r\n"),
    (b"", [], b""),
    (b"Name With Space: x\r\n", [], b"Name With Space: x\r\n"),
    (b"Trailing-Space : x\r\n\r\n", ["trailing-space"], b"\r\n"),
])
def test_split_stops_where_the_header_ends(message, names, rest):
    fields, remainder = split_header(message)
    assert [f.name for f in fields] == names and remainder == rest


def test_values_decode_utf8_and_latin1():
    fields, _ = split_header("Subject: Grüße\r\n".encode() + b"X: \xe9t\xe9\r\n\r\n")
    assert [f.value for f in fields] == ["Grüße", "été"]


@pytest.mark.parametrize("header, addresses, problem", [
    (b"From: Ann <ann@Example.COM>\r\n", ["ann@Example.COM"], ""),
    (b"From: a@x.example, b@y.example\r\n", ["a@x.example", "b@y.example"], ""),
    (b"From: a@x.example\r\nFrom: b@y.example\r\n", ["a@x.example", "b@y.example"],
     "several From header fields"),
    (b"To: a@x.example\r\n", [], "no From header field"),
    (b"From: nobody\r\n", [], "From header field without a usable address"),
    (b"From: a@x.example, nobody\r\n", ["a@x.example"],
     "From header field without a usable address"),
])
def test_author_addresses(header, addresses, problem):
    assert author_addresses(split_header(header + b"\r\n")[0]) == (addresses, problem)


@pytest.mark.parametrize("value, authserv_id", [
    ("mx.example.org; spf=pass", "mx.example.org"),
    ("  (comment (nested)) MX.Example.org 1; none", "mx.example.org"),
    ('"mx.example.org"; none', "mx.example.org"),
    ("(unclosed comment", ""),
    ("", ""),
])
def test_authserv_id(value, authserv_id):
    assert authserv_id_of(value) == authserv_id
