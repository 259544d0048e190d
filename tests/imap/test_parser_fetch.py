"""FETCH items, section specs and modifiers as `parse_command` reads them (RFC 3501 6.4.5)."""

from __future__ import annotations

import pytest

from mfserver.imap.commands import FetchArgs, ParseError
from mfserver.imap.parser import parse_command
from mfserver.imap.syntax import FetchAttribute, Section, SequenceSet


def items(text: str) -> tuple[FetchAttribute, ...]:
    return parse_command(b"f FETCH 1 " + text.encode()).args.attributes


def one(text: str) -> FetchAttribute:
    (item,) = items(text)
    return item


def refused(text: str, uid: bool = False) -> str:
    with pytest.raises(ParseError) as caught:
        parse_command((b"f UID FETCH 1 " if uid else b"f FETCH 1 ") + text.encode())
    assert caught.value.tag == "f"
    return caught.value.message


def test_macros_expand():  # RFC 3501 6.4.5
    names = [item.name for item in items("ALL")]
    assert names == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
    assert [item.name for item in items("fast")] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert [item.name for item in items("Full")] == names + ["BODY"]


@pytest.mark.parametrize("name", ["ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822",
                                  "RFC822.HEADER", "RFC822.SIZE", "RFC822.TEXT", "BODY",
                                  "BODYSTRUCTURE", "UID", "MODSEQ"])
def test_plain_items(name):
    assert one(name) == FetchAttribute(name)
    assert one(name.lower()) == FetchAttribute(name)
    assert one(f"({name})") == FetchAttribute(name)


@pytest.mark.parametrize(("text", "expected"), [
    ("BODY[]", FetchAttribute("BODY", Section())),
    ("BODY.PEEK[]", FetchAttribute("BODY", Section(), peek=True)),
    ("body.peek[header]", FetchAttribute("BODY", Section((), "HEADER"), peek=True)),
    ("BODY[TEXT]<0.2048>", FetchAttribute("BODY", Section((), "TEXT"), (0, 2048))),
    ("BODY[1]", FetchAttribute("BODY", Section((1,)))),
    ("BODY[1.2.3]", FetchAttribute("BODY", Section((1, 2, 3)))),
    ("BODY[4.2.HEADER]", FetchAttribute("BODY", Section((4, 2), "HEADER"))),
    ("BODY[4.2.TEXT]", FetchAttribute("BODY", Section((4, 2), "TEXT"))),
    ("BODY[4.2.MIME]", FetchAttribute("BODY", Section((4, 2), "MIME"))),
    ("BODY[3.HEADER.FIELDS (Subject)]",
     FetchAttribute("BODY", Section((3,), "HEADER.FIELDS", ("SUBJECT",)))),
    ('BODY.PEEK[HEADER.FIELDS.NOT (x-spam "Received" {4}\r\nDate)]<10.20>',
     FetchAttribute("BODY", Section((), "HEADER.FIELDS.NOT", ("X-SPAM", "RECEIVED", "DATE")),
                    (10, 20), peek=True)),
    ("BODY[]<4294967295.4294967295>", FetchAttribute("BODY", Section(), (2**32 - 1,) * 2)),
    ("BINARY[]", FetchAttribute("BINARY", Section())),
    ("BINARY[1.2]<0.100>", FetchAttribute("BINARY", Section((1, 2)), (0, 100))),
    ("BINARY.PEEK[3]", FetchAttribute("BINARY", Section((3,)), peek=True)),
    ("BINARY.SIZE[1]", FetchAttribute("BINARY.SIZE", Section((1,)))),
    ("BINARY.SIZE[]", FetchAttribute("BINARY.SIZE", Section())),
])
def test_sections(text, expected):
    assert one(text) == expected
    assert items(f"(UID {text})")[1] == expected


def test_section_strings_and_seen():
    assert str(one("BODY[1.2.HEADER.FIELDS (a b)]").section) == "1.2.HEADER.FIELDS (A B)"
    assert one("BODY[1]").sets_seen and not one("BODY.PEEK[1]").sets_seen
    assert one("BINARY[1]").sets_seen and not one("BINARY.SIZE[1]").sets_seen


def test_modifiers():
    def fetch(line: bytes) -> FetchArgs:
        return parse_command(line).args

    assert fetch(b"a FETCH 1 FLAGS (CHANGEDSINCE 5)").changed_since == 5
    assert fetch(b"a FETCH 1 (FLAGS) (changedsince 0)").changed_since == 0  # lenient
    vanished = fetch(b"a UID FETCH 1:* (FLAGS) (VANISHED CHANGEDSINCE 9223372036854775807)")
    assert (vanished.changed_since, vanished.vanished) == (2**63 - 1, True)
    plain = fetch(b"a FETCH 1:* ALL")
    assert (plain.sequence_set, plain.changed_since, plain.vanished) == (
        SequenceSet(((1, None),)), None, False)


@pytest.mark.parametrize(("text", "message"), [
    ("BODY[0]", "invalid section"),
    ("BODY[01]", "invalid section"),
    ("BODY[1.0]", "invalid section"),
    ("BODY[4294967296]", "invalid section"),
    ("BODY[MIME]", "invalid section"),  # MIME only after a part number
    ("BODY[1.]", "invalid section"),
    ("BODY[.1]", "invalid section"),
    ("BODY[1.FOO]", "invalid section"),
    ("BODY[HEADER.FIELDS]", "expected a space"),
    ("BODY[HEADER.FIELDS ()]", "empty list"),  # needs a non-empty list
    ("BODY[HEADER.FIELDS (a b c]", "unbalanced parenthesis"),
    ("BODY[HEADER.FIELDS (a)", "invalid section"),
    ("BODY[HEADER", "invalid section"),
    ("BODY[TEXT.MIME]", "invalid section"),
    ("BODY[1 ]", "invalid section"),
    ("BODY.PEEK", "invalid section"),
    ("(BODY.PEEK UID)", "invalid section"),
    ("BINARY", "invalid section"),
    ("BINARY[TEXT]", "invalid section"),
    ("BINARY[1.MIME]", "invalid section"),
    ("BINARY[1", "invalid section"),
    ("BINARY.SIZE", "invalid section"),
    ("BINARY.SIZE[1]<0.1>", "unexpected data at end of command"),
    ("BODY[]<0.0>", "invalid partial range"),  # count non-zero
    ("BODY[]<0>", "invalid partial range"),
    ("BODY[]<.5>", "invalid partial range"),
    ("BODY[]<0.5", "invalid partial range"),
    ("BODY[]<0.05>", "invalid partial range"),
    ("BODY[]<4294967296.1>", "invalid partial range"),
    ("BODY<0.5>", "unexpected data at end of command"),
    ("FLAGS[]", "unexpected data at end of command"),
    ("FOO", "unknown FETCH item FOO"),
    ("(UID X-GM-LABELS)", "unknown FETCH item X-GM-LABELS"),
    ("(UID " + "X" * 40 + ")", "unknown FETCH item ?"),
    ("(UID ALL)", "unknown FETCH item ALL"),  # macros stand alone
    ("(UID FLAGS", "unbalanced parenthesis"),
    ("()", "empty list"),
    ("(UID  FLAGS)", "expected a FETCH item"),
    ('"FLAGS"', "expected a FETCH item"),
    ("FLAGS (FOO 1)", "unknown FETCH modifier FOO"),
    ("FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "duplicate FETCH modifier CHANGEDSINCE"),
    ("FLAGS ((x))", "expected a FETCH modifier"),
    ("FLAGS (CHANGEDSINCE x)", "expected a number"),
    ("FLAGS (CHANGEDSINCE 9223372036854775808)", "number too large"),
    ("FLAGS (CHANGEDSINCE 1 VANISHED)", "VANISHED needs UID FETCH"),
    ("FLAGS CHANGEDSINCE 1", "expected '('"),
])
def test_errors(text, message):
    assert refused(text) == message


def test_vanished_needs_changedsince():
    assert refused("FLAGS (VANISHED)", uid=True) == "VANISHED needs CHANGEDSINCE"
