"""Response values and lines on the wire: quoting, literals, atoms, dates, flags, codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfserver.imap.commands import BadCharset, ParseError
from mfserver.imap.encode import (
    BIG_LITERAL,
    NIL,
    QUOTED_MAX,
    Atom,
    Literal,
    Literal8,
    Raw,
    continuation,
    continuation_data,
    encode_chunks,
    encode_value,
    format_flags,
    format_internal_date,
    quote_mailbox,
    response_code,
    status_response,
    untagged,
    untagged_chunks,
)
from mfserver.imap.parser import parse_command
from mfserver.store import flags


@pytest.mark.parametrize(("value", "wire"), [
    (None, b"NIL"),
    (NIL, b"NIL"),
    ("NIL", b'"NIL"'),  # a string is never an atom by accident
    ("", b'""'),
    ("Hello, world", b'"Hello, world"'),
    ('say "hi"', b'"say \\"hi\\""'),
    ("C:\\path", b'"C:\\\\path"'),
    ("two\r\nlines", b"{10}\r\ntwo\r\nlines"),
    ("bare\nLF", b"{7}\r\nbare\nLF"),
    ("tab\there", b"{8}\r\ntab\there"),
    ("café", b"{5}\r\ncaf\xc3\xa9"),
    ("nul\x00", b"{6}\r\nnul\xef\xbf\xbd"),  # CHAR8 has no NUL: U+FFFD instead
    ("x" * QUOTED_MAX, b'"' + b"x" * QUOTED_MAX + b'"'),
    ("x" * (QUOTED_MAX + 1), b"{%d}\r\n" % (QUOTED_MAX + 1) + b"x" * (QUOTED_MAX + 1)),
    (0, b"0"),
    (4294967295, b"4294967295"),
    (2**63 - 1, b"9223372036854775807"),
    (b"", b"{0}\r\n"),
    (b"abc", b"{3}\r\nabc"),
    (bytearray(b"abc"), b"{3}\r\nabc"),
    (memoryview(b"abc"), b"{3}\r\nabc"),
    (Literal(b"plain"), b"{5}\r\nplain"),
    (Literal8(b"a\x00b"), b"~{3}\r\na\x00b"),
    (Raw(b'"already" (done)'), b'"already" (done)'),
    (Atom("\\Seen"), b"\\Seen"),
    (Atom("BODY[HEADER.FIELDS"), b"BODY[HEADER.FIELDS"),
    ([], b"()"),
    ([Atom("\\Seen"), "x", None, 5, [b"y"]], b'(\\Seen "x" NIL 5 ({1}\r\ny))'),
    (("TEXT", "PLAIN", ["CHARSET", "US-ASCII"]), b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII"))'),
])
def test_values(value, wire):
    assert encode_value(value) == wire


def test_utf8_accept_quotes_non_ascii():
    assert encode_value("café", utf8=True) == b'"caf\xc3\xa9"'
    assert encode_value("\U0001f4e7", utf8=True) == b'"\xf0\x9f\x93\xa7"'
    assert encode_value("two\r\nlines", utf8=True) == b"{10}\r\ntwo\r\nlines"
    assert encode_value("\x85", utf8=True) == b"{2}\r\n\xc2\x85"  # C1 controls: literal
    assert encode_value("é" * 600, utf8=True).startswith(b"{1200}\r\n")  # octets count


def test_lone_surrogate_does_not_break_the_response():
    assert encode_value("a\ud800") == b"{2}\r\na?"


@pytest.mark.parametrize("bad", ["", "two words", "(x", "x)", "{5}", 'a"b', "caf\u00e9",
                                 "a\r\nb", "\x00", "a\x7f"])
def test_atom_refuses_what_would_break_framing(bad):
    with pytest.raises(ValueError):
        Atom(bad)


@pytest.mark.parametrize(("value", "error"), [(True, TypeError), (-1, ValueError),
                                              (1.5, TypeError), ({"a": 1}, TypeError)])
def test_values_that_are_not_imap(value, error):
    with pytest.raises(error):
        encode_value(value)


def test_big_literals_are_not_copied():
    payload = b"x" * BIG_LITERAL
    view = memoryview(b"y" * (BIG_LITERAL * 2))
    chunks = encode_chunks([Atom("BODY[]"), payload, Atom("BINARY[1]"), view, 7])
    assert chunks[1] is payload and chunks[3] is view
    assert chunks[0] == b"(BODY[] {%d}\r\n" % BIG_LITERAL
    assert chunks[2] == b" BINARY[1] {%d}\r\n" % (BIG_LITERAL * 2)
    assert chunks[4] == b" 7)"
    assert encode_chunks(["small", b"tiny"]) == [b'("small" {4}\r\ntiny)']


def test_many_values_encode_in_linear_time():
    values = [[Atom("UID"), n, Atom("FLAGS"), [Atom("\\Seen")]] for n in range(50_000)]
    assert len(encode_value(values)) > 1_000_000


@given(st.text().filter(lambda text: "\x00" not in text), st.booleans())
def test_strings_read_back_as_sent(text, utf8):
    wire = encode_value(text, utf8=utf8)
    assert parse_command(b"a LOGIN " + wire + b" x").args.username == text


@given(st.text().filter(lambda text: "\x00" not in text and text.upper() != "INBOX"))
def test_mailbox_names_read_back_as_sent(name):
    assert parse_command(b"a SELECT " + quote_mailbox(name)).args.mailbox == name
    assert parse_command(b"a SELECT " + quote_mailbox(name, utf8=True),
                         utf8=True).args.mailbox == name


def test_quote_mailbox():
    assert quote_mailbox("INBOX") == b'"INBOX"'
    assert quote_mailbox("Entwürfe") == b'"Entw&APw-rfe"'
    assert quote_mailbox("Tom & Jerry") == b'"Tom &- Jerry"'
    assert quote_mailbox("Entwürfe", utf8=True) == b'"Entw\xc3\xbcrfe"'
    assert quote_mailbox("Tom & Jerry", utf8=True) == b'"Tom & Jerry"'
    assert quote_mailbox('a"b') == b'"a\\"b"'


@pytest.mark.parametrize(("seconds", "zone", "text"), [
    (760686745, -480, "07-Feb-1994 21:52:25 -0800"),  # RFC 3501's " 7-Feb-1994 21:52:25 -0800"
    (760686745, 0, "08-Feb-1994 05:52:25 +0000"),
    (0, 330, "01-Jan-1970 05:30:00 +0530"),
    (1700000000, -150, "14-Nov-2023 19:43:20 -0230"),
    (-86400, 0, "31-Dec-1969 00:00:00 +0000"),
])
def test_internal_date(seconds, zone, text):
    assert format_internal_date(seconds, zone) == text
    append = b'a APPEND x "%s" {1}\r\nz' % text.encode()
    assert parse_command(append).args.internal_date.timestamp() == seconds


def test_flags():
    assert format_flags(0) == b"()"
    assert format_flags(flags.SEEN | flags.DELETED | flags.DRAFT, ("$Work", "Later")) == (
        b"(\\Seen \\Deleted \\Draft $Work Later)")
    assert format_flags(flags.ALL) == b"(\\Seen \\Answered \\Flagged \\Deleted \\Draft)"


def test_response_codes():
    assert response_code("UIDNEXT", 5) == b"[UIDNEXT 5]"
    assert response_code("READ-WRITE") == b"[READ-WRITE]"
    assert response_code("PERMANENTFLAGS", [Atom("\\Seen"), Atom("\\*")]) == (
        b"[PERMANENTFLAGS (\\Seen \\*)]")
    assert response_code("CAPABILITY", Atom("IMAP4rev1"), Atom("IDLE")) == (
        b"[CAPABILITY IMAP4rev1 IDLE]")
    assert response_code("COPYUID", 38505, Atom("304,319:320"), Atom("3956:3958")) == (
        b"[COPYUID 38505 304,319:320 3956:3958]")
    assert response_code("BADCHARSET", [Atom("UTF-8"), Atom("US-ASCII")]) == (
        b"[BADCHARSET (UTF-8 US-ASCII)]")
    for bad in ("two\r\nlines", "a]b"):
        with pytest.raises(ValueError):
            response_code("ALERT", bad)
    with pytest.raises(ValueError):
        response_code("NOT AN ATOM")


def test_status_responses():
    assert status_response("a1", "OK", "SELECT completed", response_code("READ-WRITE")) == (
        b"a1 OK [READ-WRITE] SELECT completed\r\n")
    assert status_response(None, "OK", "Still here") == b"* OK Still here\r\n"
    assert status_response(None, "BYE", "Logging out") == b"* BYE Logging out\r\n"
    assert status_response(None, "PREAUTH", "Welcome") == b"* PREAUTH Welcome\r\n"
    assert status_response("a", "NO", "line\r\nbreak") == b"a NO line  break\r\n"
    assert status_response("a", "BAD", "ünïcode") == "a BAD ünïcode\r\n".encode()
    error = BadCharset("a2", "unsupported charset KOI8-R")
    assert status_response(error.tag, "NO", error.message, error.code) == (
        b"a2 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset KOI8-R\r\n")
    syntax = ParseError(None, "missing tag")
    assert status_response(syntax.tag, "BAD", syntax.message, syntax.code) == (
        b"* BAD missing tag\r\n")
    for tag, status, text in [("a", "MAYBE", "x"), ("a", "BYE", "x"), ("a", "PREAUTH", "x"),
                              ("a", "OK", ""), ("a", "OK", "[looks like a code]")]:
        with pytest.raises(ValueError):
            status_response(tag, status, text)


def test_untagged_and_continuations():
    assert untagged(5, Atom("EXISTS")) == b"* 5 EXISTS\r\n"
    assert untagged(Atom("LIST"), [Atom("\\HasNoChildren")], "/", Raw(quote_mailbox("Entwürfe"))
                    ) == b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"\r\n'
    assert untagged(Atom("SEARCH")) == b"* SEARCH\r\n"
    assert untagged(Atom("STATUS"), "Café", [Atom("MESSAGES"), 3], utf8=True) == (
        b'* STATUS "Caf\xc3\xa9" (MESSAGES 3)\r\n')
    payload = b"z" * BIG_LITERAL
    chunks = untagged_chunks(1, Atom("FETCH"), [Atom("BODY[]"), payload])
    assert chunks == [b"* 1 FETCH (BODY[] {%d}\r\n" % BIG_LITERAL, payload, b")\r\n"]
    assert chunks[1] is payload
    assert continuation() == b"+ \r\n"
    assert continuation("Ready for literal data") == b"+ Ready for literal data\r\n"
    assert continuation_data(b"") == b"+ \r\n"
    assert continuation_data(b"\x00challenge") == b"+ AGNoYWxsZW5nZQ==\r\n"
