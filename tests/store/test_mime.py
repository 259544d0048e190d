"""Tests for mfserver.store.mime (and the address lists of mfserver.store.addresses).

Expected sizes and line counts are worked out by hand in the comments, and those of the
sample messages were checked against Dovecot 2.3.19 by hand (in CRLF and LF-only form):
they agree octet for octet, except where the module notes say Dovecot strays from RFC 2046
(it cuts ATTACHMENT's unquoted boundary at the '=' and so finds a third, empty part, and
takes "--b bx" in the padding test for a delimiter).  Dovecot itself is not needed here.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfserver.store.addresses import parse_address_list
from mfserver.store.mime import (
    MAX_DEPTH,
    MAX_FIELD_CHARS,
    MAX_PARTS,
    ParsedMessage,
    header_fields,
    normalize_crlf,
    parse_message,
    part_offsets,
    split_header,
)


def crlf(text: str) -> bytes:
    """A message written with \\n line ends, as it goes over the wire."""
    return text.replace("\n", "\r\n").encode("utf-8")


NIL = None
US_ASCII = ["CHARSET", "US-ASCII"]

PLAIN = crlf("""\
Return-Path: <alice@example.org>
Date: Tue, 1 Jul 2003 10:52:37 +0200
From: Alice Example <alice@example.org>
To: Bob <bob@example.com>, carol@example.net
Cc: "Dave, Jr." <dave@example.com>
Subject: Lunch?
Message-ID: <1234@local.example.org>
In-Reply-To: <abcd@example.com>

Shall we meet at noon?
--\x20
Alice
""")

ALTERNATIVE = crlf("""\
From: Alice <alice@example.org>
To: bob@example.com
Subject: Newsletter
Date: Wed, 2 Jul 2003 08:00:00 -0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_alt_42"

This is a multi-part message in MIME format.
--=_alt_42
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello Bob,
caf=C3=A9 tonight?
--=_alt_42
Content-Type: text/html; charset=utf-8

<p>Hello Bob,<br>caf&eacute; tonight?</p>
--=_alt_42--
""")

ATTACHMENT = crlf("""\
From: "Carol Q. Public" <carol@example.net>
To: undisclosed-recipients:;
Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= attached
Date: Thu, 3 Jul 2003 12:00:00 +0000
Message-ID: <resume@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed;
 boundary=----=_Part_0_123.456

------=_Part_0_123.456
Content-Type: text/plain; charset=us-ascii
Content-Language: en

See attached.

------=_Part_0_123.456
Content-Type: application/pdf;
 name*0*=UTF-8''R%C3%A9sum%C3%A9;
 name*1=".pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
 filename*=UTF-8''R%C3%A9sum%C3%A9.pdf
Content-ID: <part1@example.net>
Content-Description: My CV

JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K
eJwrVAhUKFQwAEIAAPwA9AplbmRzdHJlYW0KZW5kb2JqCg==
------=_Part_0_123.456--
""")

FORWARD = crlf("""\
From: Dave <dave@example.com>
To: Erin <erin@example.com>
Subject: Fwd: Lunch?
Date: Fri, 4 Jul 2003 09:30:00 -0700
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

FYI, see below.
--outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Alice Example <alice@example.org>
To: Bob <bob@example.com>
Subject: Lunch?
Date: Tue, 1 Jul 2003 10:52:37 +0200
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

Noon?
--inner
Content-Type: text/html

<b>Noon?</b>
--inner--

--outer--
""")

DIGEST = crlf("""\
From: list-request@example.org
To: subscribers@example.org
Subject: Digest Vol 1, Issue 1
MIME-Version: 1.0
Content-Type: multipart/digest; boundary="digest-sep"

--digest-sep

From: a@example.org
Subject: first

one
--digest-sep
Content-Type: text/plain

not a message
--digest-sep--
""")

SAMPLES = [PLAIN, ALTERNATIVE, ATTACHMENT, FORWARD, DIGEST]

ALICE = [["Alice Example", NIL, "alice", "example.org"]]


# --- whole messages -----------------------------------------------------------------


def test_plain_text_message() -> None:
    parsed = parse_message(PLAIN)
    header, body = PLAIN.split(b"\r\n\r\n", 1)
    assert parsed.header == header + b"\r\n\r\n"
    assert parsed.size == len(PLAIN) == 321
    # body: "Shall we meet at noon?" 22+2, "-- " 3+2, "Alice" 5+2 = 36 octets, 3 lines
    assert len(body) == 36
    assert parsed.bodystructure == ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 36, 3,
                                    NIL, NIL, NIL, NIL]
    assert parsed.body == ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 36, 3]
    assert parsed.envelope == [
        "Tue, 1 Jul 2003 10:52:37 +0200",
        "Lunch?",
        ALICE,
        ALICE,  # Sender defaults to From (RFC 3501 7.4.2)
        ALICE,  # and so does Reply-To
        [["Bob", NIL, "bob", "example.com"], [NIL, NIL, "carol", "example.net"]],
        [["Dave, Jr.", NIL, "dave", "example.com"]],
        NIL,
        "<abcd@example.com>",
        "<1234@local.example.org>",
    ]
    assert parsed.sent_date == datetime(2003, 7, 1, 10, 52, 37,
                                        tzinfo=timezone(timedelta(hours=2)))


def test_multipart_alternative() -> None:
    parsed = parse_message(ALTERNATIVE)
    # part 1: "Hello Bob," 10+2, "caf=C3=A9 tonight?" 18; the CRLF before the delimiter
    # belongs to the delimiter (RFC 2046 5.1.1): 30 octets, 1 line.
    # part 2: "<p>Hello Bob,<br>caf&eacute; tonight?</p>" 41 octets, 0 lines.
    assert parsed.bodystructure == [
        ["TEXT", "PLAIN", ["CHARSET", "utf-8"], NIL, NIL, "QUOTED-PRINTABLE", 30, 1,
         NIL, NIL, NIL, NIL],
        ["TEXT", "HTML", ["CHARSET", "utf-8"], NIL, NIL, "7BIT", 41, 0, NIL, NIL, NIL, NIL],
        "ALTERNATIVE", ["BOUNDARY", "=_alt_42"], NIL, NIL, NIL,
    ]
    assert parsed.body == [
        ["TEXT", "PLAIN", ["CHARSET", "utf-8"], NIL, NIL, "QUOTED-PRINTABLE", 30, 1],
        ["TEXT", "HTML", ["CHARSET", "utf-8"], NIL, NIL, "7BIT", 41, 0],
        "ALTERNATIVE",
    ]
    assert parsed.size == len(ALTERNATIVE)
    assert parsed.sent_date == datetime(2003, 7, 2, 8, 0, tzinfo=UTC)  # -0000: zone unknown


def test_multipart_mixed_with_base64_attachment_and_rfc2231_names() -> None:
    parsed = parse_message(ATTACHMENT)
    # part 1: "See attached." 13+2; the empty line's CRLF is the delimiter's: 15 octets.
    # part 2: two base64 lines, 64+2 and 48 octets: 114.
    text, pdf, subtype, *extension = parsed.bodystructure
    assert text == ["TEXT", "PLAIN", ["CHARSET", "us-ascii"], NIL, NIL, "7BIT", 15, 1,
                    NIL, NIL, "en", NIL]
    assert pdf == [
        "APPLICATION", "PDF",
        # RFC 2231 continuations joined; the plain ".pdf" segment needs no escaping
        ["NAME*", "UTF-8''R%C3%A9sum%C3%A9.pdf"],
        "<part1@example.net>", "My CV", "BASE64", 114,
        NIL, ["ATTACHMENT", ["FILENAME*", "UTF-8''R%C3%A9sum%C3%A9.pdf"]], NIL, NIL,
    ]
    # an unquoted boundary with '=' in it (common, though RFC 2045 wants quotes)
    assert [subtype, *extension] == ["MIXED", ["BOUNDARY", "----=_Part_0_123.456"], NIL, NIL,
                                     NIL]
    subject, to = parsed.envelope[1], parsed.envelope[5]
    assert subject == "=?UTF-8?Q?R=C3=A9sum=C3=A9?= attached"  # RFC 2047 left to the client
    assert to == [[NIL, NIL, "undisclosed-recipients", NIL], [NIL, NIL, NIL, NIL]]
    assert parsed.envelope[2] == [["Carol Q. Public", NIL, "carol", "example.net"]]


def test_nested_message_rfc822() -> None:
    parsed = parse_message(FORWARD)
    # The forwarded message runs from "From: Alice" to "--inner--\r\n" (the CRLF of the
    # empty line after it belongs to "--outer--"): header lines 41+27+17+38+19+53+2 = 197,
    # then "--inner" 9, "Content-Type: text/plain" 26, 2, "Noon?" 7, "--inner" 9,
    # "Content-Type: text/html" 25, 2, "<b>Noon?</b>" 14, "--inner--" 11: 302 octets in
    # 16 lines.
    inner_envelope = [
        "Tue, 1 Jul 2003 10:52:37 +0200", "Lunch?", ALICE, ALICE, ALICE,
        [["Bob", NIL, "bob", "example.com"]], NIL, NIL, NIL, NIL,
    ]
    assert parsed.bodystructure == [
        ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 15, 0, NIL, NIL, NIL, NIL],
        ["MESSAGE", "RFC822", NIL, NIL, NIL, "7BIT", 302,
         inner_envelope,
         [["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 5, 0, NIL, NIL, NIL, NIL],
          ["TEXT", "HTML", US_ASCII, NIL, NIL, "7BIT", 12, 0, NIL, NIL, NIL, NIL],
          "ALTERNATIVE", ["BOUNDARY", "inner"], NIL, NIL, NIL],
         16,
         NIL, ["INLINE", NIL], NIL, NIL],
        "MIXED", ["BOUNDARY", "outer"], NIL, NIL, NIL,
    ]
    assert parsed.body[1] == [
        "MESSAGE", "RFC822", NIL, NIL, NIL, "7BIT", 302, inner_envelope,
        [["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 5, 0],
         ["TEXT", "HTML", US_ASCII, NIL, NIL, "7BIT", 12, 0], "ALTERNATIVE"],
        16,
    ]


def test_multipart_digest_defaults_to_message_rfc822() -> None:
    parsed = parse_message(DIGEST)
    # part 1 has no header: RFC 2046 5.1.5 makes it message/rfc822.  The message is
    # "From: a@example.org" 21, "Subject: first" 16, 2, "one" 3: 42 octets, 3 lines.
    first, second, subtype, *_ = parsed.bodystructure
    assert first == [
        "MESSAGE", "RFC822", NIL, NIL, NIL, "7BIT", 42,
        [NIL, "first", [[NIL, NIL, "a", "example.org"]], [[NIL, NIL, "a", "example.org"]],
         [[NIL, NIL, "a", "example.org"]], NIL, NIL, NIL, NIL, NIL],
        ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 3, 0, NIL, NIL, NIL, NIL],
        3, NIL, NIL, NIL, NIL,
    ]
    assert second == ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 13, 0, NIL, NIL, NIL, NIL]
    assert subtype == "DIGEST"


def test_lf_only_gives_the_same_numbers_as_crlf() -> None:
    for message in SAMPLES:
        lf = message.replace(b"\r\n", b"\n")
        assert parse_message(lf) == parse_message(message)
    mixed = PLAIN.replace(b"\r\n", b"\n", 3).replace(b"\r\n", b"\r", 2)
    assert parse_message(mixed).size == len(PLAIN)


def test_missing_final_boundary_ends_at_end_of_message() -> None:
    message = crlf("""\
Content-Type: multipart/mixed; boundary=b

--b

first
--b
Content-Type: text/plain

last line
""")
    parsed = parse_message(message)
    # the last part keeps the message's final CRLF: "last line" 9+2 = 11 octets, 1 line
    assert parsed.bodystructure[:2] == [
        ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 5, 0, NIL, NIL, NIL, NIL],
        ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 11, 1, NIL, NIL, NIL, NIL],
    ]


def test_boundary_lines_with_padding_preamble_and_epilogue() -> None:
    message = crlf("""\
Content-Type: multipart/mixed; boundary="b b"

--b bx is not a delimiter, nor is this the preamble's end
--b b\x20\t
Content-Type: text/plain

body
--b b--
--b b
epilogue, not a part
""")
    parsed = parse_message(message)
    assert parsed.bodystructure == [
        ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 4, 0, NIL, NIL, NIL, NIL],
        "MIXED", ["BOUNDARY", "b b"], NIL, NIL, NIL,
    ]


def test_multipart_without_parts_gets_one_empty_text_part() -> None:
    """RFC 3501 needs at least one part; Dovecot writes an empty text/plain, so do we."""
    for header in ("multipart/mixed", "multipart/mixed; boundary=never"):
        parsed = parse_message(crlf(f"Content-Type: {header}\n\nno delimiter here\n"))
        assert parsed.bodystructure[0] == ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 0, 0,
                                           NIL, NIL, NIL, NIL]
        assert parsed.bodystructure[1] == "MIXED"


def test_nested_multipart_reusing_its_parents_boundary() -> None:
    """Old Outlook Express did this (RFC 2046 5.1.2 forbids it); like Dovecot, the inner
    multipart claims the delimiters up to its own close delimiter."""
    message = crlf("""\
Content-Type: multipart/mixed; boundary=same

--same
Content-Type: multipart/alternative; boundary=same

--same

inner one
--same

inner two
--same--

--same

outer two
--same--
""")
    structure = parse_message(message).bodystructure
    assert [part[6] for part in structure[0][:2]] == [9, 9]
    assert structure[0][2] == "ALTERNATIVE"
    assert structure[1][6] == 9
    assert structure[2] == "MIXED"


def test_content_header_edge_cases() -> None:
    message = crlf("""\
Content-Type: Text/Plain (a comment); Format="flowed";
 CHARSET=ISO-8859-1; name=\"quoted \\\"name\\\"\"
Content-Type: text/html
Content-Transfer-Encoding: Quoted-Printable (comment)
Content-Language: en-GB (British), fr
Content-Location: http://example.com/a.txt
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

x
""")
    structure = parse_message(message).bodystructure
    assert structure == [
        "TEXT", "PLAIN", ["FORMAT", "flowed", "CHARSET", "ISO-8859-1", "NAME", 'quoted "name"'],
        NIL, NIL, "QUOTED-PRINTABLE", 3, 1,
        "Q2hlY2sgSW50ZWdyaXR5IQ==", NIL, ["en-GB", "fr"], "http://example.com/a.txt",
    ]
    # a syntactically invalid Content-Type gets the RFC 2045 5.2 default
    assert parse_message(b"Content-Type: text\r\n\r\nx").bodystructure[:3] == [
        "TEXT", "PLAIN", US_ASCII]


def test_rfc2231_mixed_segments_stay_decodable() -> None:
    message = crlf("""\
Content-Type: application/octet-stream;
 title*1*=%20rate; title*0="the ";
 title*2=" 100%"; plain*0=ab; plain*1=cd
""") + b"\r\nx"
    params = parse_message(message).bodystructure[2]
    # plain segments are percent-encoded, and '' marks the missing charset/language
    assert params == ["TITLE*", "''the%20%20rate%20100%25", "PLAIN", "abcd"]


def test_missing_headers_give_nil() -> None:
    parsed = parse_message(b"X-Spam: yes\r\n\r\nhello\r\n")
    assert parsed.envelope == [NIL] * 10
    assert parsed.sent_date is None
    assert parsed.bodystructure == ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 7, 1,
                                    NIL, NIL, NIL, NIL]
    # present but empty is NIL too, and an empty Sender still defaults to From
    parsed = parse_message(b"Subject:\r\nTo: \r\nSender:\r\nFrom: a@b.c\r\n\r\n")
    assert parsed.envelope[1] is NIL and parsed.envelope[5] is NIL
    assert parsed.envelope[3] == [[NIL, NIL, "a", "b.c"]]


def test_header_without_body() -> None:
    parsed = parse_message(b"Subject: nobody")
    assert parsed.header == b"Subject: nobody"
    assert parsed.envelope[1] == "nobody"
    assert parsed.bodystructure[6:8] == [0, 0]
    empty = parse_message(b"")
    assert (empty.header, empty.size, empty.body) == (
        b"", 0, ["TEXT", "PLAIN", US_ASCII, NIL, NIL, "7BIT", 0, 0])


def test_encoded_words_and_folding_are_kept() -> None:
    message = crlf("""\
Subject: =?utf-8?b?SsO2cmc=?=
 =?utf-8?q?_und_Fran=C3=A7oise?=
From: =?iso-8859-1?q?J=F6rg?= <joerg@example.de>

""")
    envelope = parse_message(message).envelope
    # unfolding removes the CRLF only (RFC 5322 2.2.3); encoded-words stay as they are
    assert envelope[1] == "=?utf-8?b?SsO2cmc=?= =?utf-8?q?_und_Fran=C3=A7oise?="
    assert envelope[2] == [["=?iso-8859-1?q?J=F6rg?=", NIL, "joerg", "example.de"]]


def test_raw_eight_bit_headers_are_utf8_or_latin1() -> None:
    utf8 = parse_message("Subject: Grüße\r\n\r\n".encode())
    latin1 = parse_message("Subject: Grüße\r\n\r\n".encode("latin-1"))
    assert utf8.envelope[1] == latin1.envelope[1] == "Grüße"


def test_date_parsing() -> None:
    def sent(value: str) -> datetime | None:
        return parse_message(f"Date: {value}\r\n\r\n".encode()).sent_date

    assert sent("Mon, 7 Feb 1994 21:52:25 -0800") == datetime(
        1994, 2, 7, 21, 52, 25, tzinfo=timezone(timedelta(hours=-8)))
    assert sent("7 Feb 1994 21:52:25") == datetime(1994, 2, 7, 21, 52, 25, tzinfo=UTC)
    for junk in ("yesterday", "Mon, 99 Feb 1994 25:61:61 +9999", "", "0", "1 1 1 1 1"):
        assert sent(junk) is None


# --- addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ('"Joe Q. Public" <john.q.public@example.com>',
         [["Joe Q. Public", NIL, "john.q.public", "example.com"]]),
        ("John Q. Public <jqp@example.com>", [["John Q. Public", NIL, "jqp", "example.com"]]),
        ('"J" "K" <jk@x.test>', [["J K", NIL, "jk", "x.test"]]),
        ("Mary Smith <@node.test,@relay.test:mary@example.net>",
         [["Mary Smith", "@node.test,@relay.test", "mary", "example.net"]]),
        ("user@host (Real (nested) Name)", [["Real (nested) Name", NIL, "user", "host"]]),
        ('"quoted local"@example.com', [[NIL, NIL, "quoted local", "example.com"]]),
        ("a . b @ example . com", [[NIL, NIL, "a.b", "example.com"]]),
        ("user@[192.0.2.1]", [[NIL, NIL, "user", "[192.0.2.1]"]]),
        ("root", [[NIL, NIL, "root", "MISSING_DOMAIN"]]),  # as Dovecot: NIL would open a group
        ("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Mary <m@x.test>",
         [[NIL, NIL, "A Group", NIL], ["Ed Jones", NIL, "c", "a.test"],
          [NIL, NIL, "joe", "where.test"], ["John", NIL, "jdoe", "one.test"],
          [NIL, NIL, NIL, NIL], ["Mary", NIL, "m", "x.test"]]),
        ("Undisclosed recipients:;", [[NIL, NIL, "Undisclosed recipients", NIL],
                                      [NIL, NIL, NIL, NIL]]),
        ("friends: a@b.test", [[NIL, NIL, "friends", NIL], [NIL, NIL, "a", "b.test"],
                               [NIL, NIL, NIL, NIL]]),
        ("a@b.test, , ,(just a comment),", [[NIL, NIL, "a", "b.test"]]),
        ('"unterminated <x@y.test>, z@w.test', [[NIL, NIL, "unterminated <x@y.test>, z@w.test",
                                                "MISSING_DOMAIN"]]),
        ("a@b.test (unterminated comment", [["unterminated comment", NIL, "a", "b.test"]]),
        ("<a@b.test> trailing, >stray<", [["trailing", NIL, "a", "b.test"],
                                          ["stray", NIL, "", "MISSING_DOMAIN"]]),
        ("", NIL),
        (" , ;;", NIL),
    ],
)
def test_address_lists(field: str, expected: list | None) -> None:
    assert parse_address_list(field) == expected


# --- header fields ------------------------------------------------------------------

FIELDS_HEADER = crlf("""\
Received: from a
\tby b; Tue, 1 Jul 2003 10:52:37 +0200
Subject: first
  continued
X-Mailer: test
subject : second
To: bob@example.com

""")


def test_header_fields() -> None:
    assert header_fields(FIELDS_HEADER, ["SUBJECT", "to"]) == crlf("""\
Subject: first
  continued
subject : second
To: bob@example.com

""")
    assert header_fields(FIELDS_HEADER, ["Subject", "To"], exclude=True) == crlf("""\
Received: from a
\tby b; Tue, 1 Jul 2003 10:52:37 +0200
X-Mailer: test

""")
    assert header_fields(FIELDS_HEADER, ["X-Absent"]) == b"\r\n"
    assert header_fields(FIELDS_HEADER, [], exclude=True) == FIELDS_HEADER
    # LF-only and unterminated input still answers in CRLF
    assert header_fields(b"To: a\nSubject: s", ["subject"]) == b"Subject: s\r\n\r\n"
    # the header of a parsed message serves HEADER.FIELDS directly
    assert header_fields(parse_message(PLAIN).header, ["From"]) == (
        b"From: Alice Example <alice@example.org>\r\n\r\n")


# --- line endings and header blocks -------------------------------------------------


def test_normalize_crlf() -> None:
    assert normalize_crlf(b"a\nb\rc\r\nd\r\r\n\n") == b"a\r\nb\r\nc\r\nd\r\n\r\n\r\n"
    assert normalize_crlf(b"a\r\nb") == b"a\r\nb"
    assert normalize_crlf(b"") == b""


@pytest.mark.parametrize(
    ("raw", "header", "body"),
    [
        (b"A: b\r\n\r\nbody\r\n", b"A: b\r\n\r\n", b"body\r\n"),
        (b"A: b\n\nbody\n", b"A: b\n\n", b"body\n"),
        (b"A: b\r\n\nbody", b"A: b\r\n\n", b"body"),
        (b"A: b\r\rbody", b"A: b\r\r", b"body"),
        (b"\r\nbody", b"\r\n", b"body"),
        (b"\nbody", b"\n", b"body"),
        (b"A: b\r\n c\r\n", b"A: b\r\n c\r\n", b""),
        (b"", b"", b""),
    ],
)
def test_split_header(raw: bytes, header: bytes, body: bytes) -> None:
    assert split_header(raw) == (header, body)


# --- part offsets -------------------------------------------------------------------


def section(message: bytes, path: list[int]) -> tuple[bytes, bytes] | None:
    """(MIME header, body) of a section, as BODY[path.MIME] and BODY[path] serve them."""
    offsets = part_offsets(message, path)
    if offsets is None:
        return None
    header_start, body_start, end = offsets
    return message[header_start:body_start], message[body_start:end]


def test_part_offsets_in_nested_multiparts_and_message_rfc822() -> None:
    assert section(FORWARD, [1]) == (b"Content-Type: text/plain\r\n\r\n", b"FYI, see below.")
    mime, forwarded = section(FORWARD, [2])
    assert mime == b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    assert forwarded.startswith(b"From: Alice") and forwarded.endswith(b"--inner--\r\n")
    assert len(forwarded) == 302
    # the parts of a message/rfc822 part are those of the message inside (RFC 3501 6.4.5)
    assert section(FORWARD, [2, 1]) == (b"Content-Type: text/plain\r\n\r\n", b"Noon?")
    assert section(FORWARD, [2, 2]) == (b"Content-Type: text/html\r\n\r\n", b"<b>Noon?</b>")
    for missing in ([3], [0], [2, 3], [1, 1], [2, 1, 1], [-1]):
        assert part_offsets(FORWARD, missing) is None
    assert part_offsets(FORWARD, []) == (0, len(parse_message(FORWARD).header), len(FORWARD))


def test_part_offsets_of_single_part_messages() -> None:
    # a non-multipart message has one part, its body; its "MIME header" is the header
    header, body = PLAIN.split(b"\r\n\r\n", 1)
    assert section(PLAIN, [1]) == (header + b"\r\n\r\n", body)
    assert part_offsets(PLAIN, [2]) is None
    # in a digest, part 1 is a message/rfc822 whose only part is its body
    assert section(DIGEST, [1]) == (b"\r\n", b"From: a@example.org\r\nSubject: first\r\n\r\none")
    assert section(DIGEST, [1, 1]) == (b"From: a@example.org\r\nSubject: first\r\n\r\n", b"one")
    assert section(DIGEST, [2]) == (b"Content-Type: text/plain\r\n\r\n", b"not a message")
    assert section(ALTERNATIVE, [2])[1] == b"<p>Hello Bob,<br>caf&eacute; tonight?</p>"


# --- limits and robustness ----------------------------------------------------------


def test_ten_thousand_nested_multiparts_stop_at_max_depth() -> None:
    message = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(10_000))
    started = time.perf_counter()
    parsed = parse_message(message)
    assert time.perf_counter() - started < 2
    json.dumps(parsed.bodystructure)
    node, levels = parsed.bodystructure, 0
    while isinstance(node[0], list):
        node, levels = node[0], levels + 1
    assert levels == MAX_DEPTH
    assert node[:2] == ["APPLICATION", "OCTET-STREAM"]


def test_ten_thousand_nested_messages_stop_at_max_depth() -> None:
    parsed = parse_message(b"Content-Type: message/rfc822\r\n\r\n" * 10_000)
    node, levels = parsed.bodystructure, 0
    while node[:2] == ["MESSAGE", "RFC822"]:
        node, levels = node[8], levels + 1
    assert levels == MAX_DEPTH
    assert node[:2] == ["APPLICATION", "OCTET-STREAM"]


def test_too_many_parts_make_an_opaque_leaf() -> None:
    many = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * (
        MAX_PARTS + 1)
    structure = parse_message(many).bodystructure
    assert structure[:2] == ["APPLICATION", "OCTET-STREAM"]
    assert structure[6] == len(many) - len(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n")
    fewer = parse_message(many[: -len(b"--b\r\n\r\nx\r\n") * 2]).bodystructure
    assert len(fewer) == MAX_PARTS - 1 + 5


def test_fifty_megabytes_parse_quickly() -> None:
    line = b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\n"
    attachment = line * (50_000_000 // len(line))
    message = (b"From: a@example.org\nContent-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\n"
               b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
               + attachment + b"--XYZ--\n")
    started = time.perf_counter()
    parsed = parse_message(message)
    assert time.perf_counter() - started < 5
    assert parsed.size == len(message) + message.count(b"\n")
    # the attachment's last CRLF belongs to the close delimiter
    assert parsed.bodystructure[0][6] == len(attachment) + attachment.count(b"\n") - 2


@pytest.mark.parametrize(
    "message",
    [
        b"a\r\n" * 2_000_000,  # a header of two million fields
        b"SubjectX: x\r\n" * 500_000 + b"\r\n",  # near misses for every field looked up
        b"To: " + b"a," * 3_000_000 + b"\r\n\r\n",  # a huge address list
        b"Content-Type: text/plain; " + b"(" * 3_000_000 + b"\r\n\r\n",  # open comments
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"\r\n--bx" * 1_000_000,
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + (
            b"--b\r\nContent-Type: message/rfc822\r\n\r\nTo: " + b"a," * 100_000
            + b"\r\nCc: " + b"a," * 100_000 + b"\r\n\r\nx\r\n") * 50,
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + (
            b"--b\r\nContent-Type: text/plain; " + b"a=b;" * 250
            + b"\r\nContent-Disposition: inline; " + b"a=b;" * 250 + b"\r\n\r\nx\r\n") * 4900,
    ],
    ids=["fields", "near-misses", "addresses", "comments", "delimiter-prefixes",
         "many-address-lists", "many-parameter-lists"],
)
def test_pathological_input_stays_fast(message: bytes) -> None:
    started = time.perf_counter()
    parse_message(message)
    assert time.perf_counter() - started < 3


def test_structured_text_budget_keeps_the_tree() -> None:
    """Past MAX_STRUCTURED_CHARS, address lists and dispositions are cut short, but a
    Content-Type always gets enough to find its boundary, so the tree is unchanged."""
    recipients = b", ".join(b"user%d@example.com" % i for i in range(20_000))
    message = (b"From: a@example.org\r\nTo: " + recipients + b"\r\nCc: c@example.org\r\n"
               b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
               b"Content-Disposition: attachment; filename=x.txt\r\n\r\nx\r\n--b--\r\n")
    parsed = parse_message(message)
    assert len(recipients) > MAX_FIELD_CHARS
    to = parsed.envelope[5]
    assert to[0] == [NIL, NIL, "user0", "example.com"] and 2000 < len(to) < 20_000
    assert parsed.envelope[6] == [[NIL, NIL, "c", "example.org"]]  # budget left for it
    assert parsed.bodystructure[0][6:8] == [1, 0]
    assert parsed.bodystructure[1:3] == ["MIXED", ["BOUNDARY", "b"]]


def children_of(structure: list) -> list[list] | None:
    """The parts of a multipart BODYSTRUCTURE (the lists before its subtype), else None."""
    if not isinstance(structure[0], list):
        return None
    count = next(i for i, item in enumerate(structure) if not isinstance(item, list))
    return structure[:count]


def sections_of(structure: list, path: list[int]) -> list[tuple[list[int], list]]:
    """Every numbered section inside the entity at `path`, RFC 3501 6.4.5: the parts of a
    multipart, or part 1 (the body) of a message that is not multipart."""
    children = children_of(structure)
    numbered = list(enumerate(children, 1)) if children is not None else [(1, structure)]
    out = []
    for number, child in numbered:
        out.append((path + [number], child))
        if children_of(child) is not None:
            out += sections_of(child, path + [number])
        elif child[:2] == ["MESSAGE", "RFC822"] and len(child) > 9:
            out += sections_of(child[8], path + [number])
    return out


def check_invariants(raw: bytes, parsed: ParsedMessage) -> None:
    data = normalize_crlf(raw)
    json.dumps([parsed.envelope, parsed.body, parsed.bodystructure])
    assert parsed.size == len(data)
    assert data.startswith(parsed.header)
    assert split_header(data)[0] == parsed.header
    for path, structure in sections_of(parsed.bodystructure, []):
        offsets = part_offsets(data, path)
        assert offsets is not None, path
        header_start, body_start, end = offsets
        assert 0 <= header_start <= body_start <= end <= len(data)
        if not isinstance(structure[0], list):
            assert structure[6] == end - body_start, path


@pytest.mark.parametrize("message", SAMPLES)
def test_invariants_hold_for_samples(message: bytes) -> None:
    check_invariants(message, parse_message(message))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check_invariants(raw, parse_message(raw))


_MIME_NOISE = st.sampled_from([
    b"\r\n", b"\n", b"\r", b"\x00", b"--", b"--b", b"--outer\r\n", b"--inner--\r\n",
    b"--=_alt_42\r\n", b"\r\n\r\n", b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n", b"(", b")", b'"', b"\\", b";", b"<", b">", b":",
    b"@", b",", b"=?utf-8?q?x?=", b"*0*=", b"\xff\xfe", b" ", b"\t",
])


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    message = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(message)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "repeat"]))
        if action == "insert":
            message[at:at] = draw(_MIME_NOISE | st.binary(max_size=20))
        elif action == "delete":
            del message[at: at + draw(st.integers(1, 40))]
        elif action == "replace":
            message[at: at + 1] = draw(_MIME_NOISE)
        elif action == "truncate":
            del message[at:]
        else:
            message[at:at] = bytes(message[at: at + draw(st.integers(1, 200))]) * draw(
                st.integers(2, 5))
    return bytes(message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_messages())
def test_mutated_real_messages_never_raise(raw: bytes) -> None:
    check_invariants(raw, parse_message(raw))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab @.,;:<>()"\\[]\t\r\n=?ÿé')), max_size=200))
def test_address_lists_never_raise(field: str) -> None:
    addresses = parse_address_list(field)
    if addresses is not None:
        json.dumps(addresses)
        assert all(len(address) == 4 for address in addresses)
        opened = [a for a in addresses if a[3] is None and a[2] is not None and a[0] is None]
        closed = [a for a in addresses if a == [None, None, None, None]]
        assert len(closed) <= len(opened)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_junk_dates_never_raise(value: str) -> None:
    raw = b"Date: " + value.encode("utf-8", "surrogatepass") + b"\r\n\r\n"
    sent = parse_message(raw).sent_date
    assert sent is None or sent.tzinfo is not None
