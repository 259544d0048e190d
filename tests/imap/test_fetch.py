"""FETCH rendering (imap.fetch): every item kind, section semantics of RFC 3501 6.4.5, partials,
BINARY (RFC 3516), and header-only items answered from the store's cache without the file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mfserver.imap.fetch import (
    Atom,
    Literal8,
    Needs,
    UnknownCTE,
    body,
    internal_date,
    marks_seen,
    needs,
    render,
)
from mfserver.imap.syntax import FetchAttribute, Section
from mfserver.store import MessageDetails, MessageInfo
from mfserver.store.mime import parse_message


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


MIXED_HEADER = crlf(
    "From: Alice <alice@example.org>\n"
    "To: Bob <bob@example.org>\n"
    "Subject: Quarterly report\n"
    "   folded on\n"
    "\tand on\n"
    "x-MIXED-case: yes\n"
    "Date: Tue, 05 Mar 2024 10:00:00 +0100\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="outer"\n'
    "\n")
PART1_MIME = crlf("Content-Type: text/plain; charset=utf-8\n"
                  "Content-Transfer-Encoding: quoted-printable\n\n")
PART1_BODY = crlf("Caf=C3=A9 soft=\nbreak\nsecond line")
PART2_MIME = crlf('Content-Type: application/octet-stream; name="data.bin"\n'
                  'Content-Disposition: attachment; filename="data.bin"\n'
                  "Content-Transfer-Encoding: base64\n\n")
PART2_BODY = crlf("AAECAwQFBgcICQ==")
INNER_HEADER = crlf("From: Carol <carol@example.org>\n"
                    "Subject: inner one\n"
                    'Content-Type: multipart/alternative; boundary="inner"\n\n')
INNER_PLAIN = crlf("Content-Type: text/plain\n\ninner plain")
INNER_HTML = crlf("Content-Type: text/html\n\n<p>inner html</p>")
INNER_BODY = (crlf("--inner\n") + INNER_PLAIN + crlf("\n--inner\n") + INNER_HTML
              + crlf("\n--inner--"))
PART3_MIME = crlf("Content-Type: message/rfc822\n\n")
PART4_MIME = crlf("Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n")
PART4_BODY = crlf("begin 644 x\n`\nend")
MIXED_BODY = (crlf("preamble\n--outer\n") + PART1_MIME + PART1_BODY
              + crlf("\n--outer\n") + PART2_MIME + PART2_BODY
              + crlf("\n--outer\n") + PART3_MIME + INNER_HEADER + INNER_BODY
              + crlf("\n--outer\n") + PART4_MIME + PART4_BODY
              + crlf("\n--outer--\nepilogue\n"))
MIXED = MIXED_HEADER + MIXED_BODY

SIMPLE_HEADER = crlf("From: Dave <dave@example.org>\nSubject: plain\n"
                     "Content-Type: text/plain; charset=iso-8859-1\n"
                     "Content-Transfer-Encoding: base64\n\n")
SIMPLE_BODY = crlf("SGFsbG8gV2VsdCDkIQ==\n")  # "Hallo Welt \xe4!"
SIMPLE = SIMPLE_HEADER + SIMPLE_BODY

WITH_NUL = crlf("Subject: nul\n\n") + b"a\0b\r\n"


def info(raw: bytes, *, uid: int = 44, flags: int = 1, keywords=("$Label1",),
         tz: int = 60) -> MessageInfo:
    when = datetime(2024, 3, 5, 9, 7, 3, tzinfo=timezone(timedelta(minutes=tz)))
    return MessageInfo(uid, flags, tuple(keywords), 12345, len(raw), int(when.timestamp()), tz,
                       None)


def details(raw: bytes, uid: int = 44) -> MessageDetails:
    parsed = parse_message(raw)
    return MessageDetails(uid, parsed.envelope, parsed.bodystructure, parsed.header)


def fetch(raw: bytes, *attrs: FetchAttribute, with_raw: bool = True, **kwargs) -> list:
    return render(attrs, info(raw), details(raw), raw if with_raw else None, **kwargs)


def one(raw: bytes, attr: FetchAttribute, **kwargs) -> tuple[str, object]:
    return fetch(raw, attr, **kwargs)[0]


def section(spec: str = "", *, peek: bool = True, partial=None, name: str = "BODY"
            ) -> FetchAttribute:
    """A FetchAttribute for BODY[spec] written as a client writes it, e.g. "1.2.MIME"."""
    part: list[int] = []
    text = None
    fields: tuple[str, ...] = ()
    if " (" in spec:
        spec, names = spec.split(" (", 1)
        fields = tuple(names.rstrip(")").upper().split())
    for piece in spec.split(".") if spec else []:
        if piece.isdigit() and text is None:
            part.append(int(piece))
        else:
            text = piece if text is None else f"{text}.{piece}"
    return FetchAttribute(name, Section(tuple(part), text, fields), partial, peek)


# --- what an item needs, and \Seen ----------------------------------------------------------

@pytest.mark.parametrize(("attr", "expected"), [
    (FetchAttribute("FLAGS"), Needs(False, False)),
    (FetchAttribute("UID"), Needs(False, False)),
    (FetchAttribute("INTERNALDATE"), Needs(False, False)),
    (FetchAttribute("RFC822.SIZE"), Needs(False, False)),
    (FetchAttribute("MODSEQ"), Needs(False, False)),
    (FetchAttribute("ENVELOPE"), Needs(True, False)),
    (FetchAttribute("BODYSTRUCTURE"), Needs(True, False)),
    (FetchAttribute("BODY"), Needs(True, False)),
    (FetchAttribute("RFC822.HEADER"), Needs(True, False)),
    (section("HEADER"), Needs(True, False)),
    (section("HEADER.FIELDS (FROM TO)"), Needs(True, False)),
    (section("HEADER.FIELDS.NOT (FROM)", partial=(0, 10)), Needs(True, False)),
    (FetchAttribute("RFC822"), Needs(False, True)),
    (FetchAttribute("RFC822.TEXT"), Needs(False, True)),
    (section(""), Needs(False, True)),
    (section("TEXT"), Needs(False, True)),
    (section("1"), Needs(False, True)),
    (section("1.MIME"), Needs(False, True)),
    (section("3.HEADER"), Needs(True, True)),
    (section("3.TEXT"), Needs(True, True)),
    (section("1", name="BINARY"), Needs(True, True)),
    (FetchAttribute("BINARY.SIZE", Section((1,))), Needs(True, True)),
])
def test_needs(attr, expected):
    assert needs([attr]) == expected
    assert needs([FetchAttribute("UID"), attr]) == expected


def test_needs_combines_items_and_refuses_unknown_ones():
    assert needs([FetchAttribute("ENVELOPE"), section("1")]) == Needs(True, True)
    assert needs([]) == Needs(False, False)
    with pytest.raises(ValueError):
        needs([FetchAttribute("BODY.STRUCTURE")])


def test_marks_seen():
    assert marks_seen([FetchAttribute("UID"), section("1", peek=False)])
    assert marks_seen([FetchAttribute("RFC822")])
    assert marks_seen([FetchAttribute("RFC822.TEXT")])
    assert marks_seen([section("1", name="BINARY", peek=False)])
    assert not marks_seen([section("1"), FetchAttribute("RFC822.HEADER"),
                           FetchAttribute("BODY"), FetchAttribute("ENVELOPE")])
    assert not marks_seen([section("", name="BINARY")])


# --- items from the index and the cache -----------------------------------------------------

def test_index_items():
    items = fetch(SIMPLE, FetchAttribute("UID"), FetchAttribute("FLAGS"),
                  FetchAttribute("RFC822.SIZE"), FetchAttribute("MODSEQ"),
                  FetchAttribute("INTERNALDATE"))
    assert items == [("UID", 44), ("FLAGS", ["\\Seen", "$Label1"]),
                     ("RFC822.SIZE", len(SIMPLE)), ("MODSEQ", [12345]),
                     ("INTERNALDATE", "05-Mar-2024 09:07:03 +0100")]
    assert all(isinstance(flag, Atom) for flag in items[1][1])
    # nothing but the MessageInfo is needed for these
    assert render([FetchAttribute("FLAGS")], info(SIMPLE), None, None) == [("FLAGS", items[1][1])]


def test_flags_override_replaces_the_stored_flags():
    name, value = one(SIMPLE, FetchAttribute("FLAGS"), flags_override=["\\Seen", "\\Recent"])
    assert (name, value) == ("FLAGS", ["\\Seen", "\\Recent"])
    assert all(isinstance(flag, Atom) for flag in value)
    assert one(SIMPLE, FetchAttribute("FLAGS"), flags_override=[]) == ("FLAGS", [])


@pytest.mark.parametrize(("tz", "expected"), [
    (0, "05-Mar-2024 08:07:03 +0000"),
    (-300, "05-Mar-2024 03:07:03 -0500"),
    (-570, "04-Mar-2024 22:37:03 -0930"),
    (345, "05-Mar-2024 13:52:03 +0545"),
])
def test_internaldate_is_shown_in_the_zone_it_was_received_in(tz, expected):
    base = info(SIMPLE)  # 08:07:03 UTC
    assert internal_date(base._replace(internal_tz=tz)) == expected


def test_internaldate_day_has_two_digits_and_english_month():
    when = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
    message = MessageInfo(1, 0, (), 1, 10, int(when.timestamp()), 0, None)
    assert internal_date(message) == "02-Jan-2023 03:04:05 +0000"


def test_envelope_bodystructure_and_body_come_from_the_cache():
    cached = details(MIXED)
    items = render([FetchAttribute("ENVELOPE"), FetchAttribute("BODYSTRUCTURE"),
                    FetchAttribute("BODY")], info(MIXED), cached, None)
    assert items[0] == ("ENVELOPE", cached.envelope)
    assert items[1] == ("BODYSTRUCTURE", cached.bodystructure)
    assert items[2] == ("BODY", parse_message(MIXED).body)
    assert items[0][1][1] == "Quarterly report   folded on\tand on"


DIGEST = crlf('Content-Type: multipart/digest; boundary="d"\n\n--d\n\n'
              "Subject: one\nContent-Type: text/plain\nContent-Language: en\n\nbody one\n"
              "--d\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n"
              'Subject: two\nContent-Type: multipart/mixed; boundary="m"\n\n--m\n'
              "Content-Type: image/png\nContent-Location: http://x/\n\nPNG\n--m--\n--d--\n")
TOP_MESSAGE = crlf("Subject: wrapper\nContent-Type: message/rfc822\n\n"
                   "Subject: wrapped\nContent-Type: text/plain\n\nwrapped body\n")


@pytest.mark.parametrize("raw", [MIXED, SIMPLE, WITH_NUL, DIGEST, TOP_MESSAGE,
                                 crlf("Subject: no body\n")])
def test_body_is_bodystructure_without_extension_data(raw):
    parsed = parse_message(raw)
    assert body(parsed.bodystructure) == parsed.body
    assert parsed.body != parsed.bodystructure


# --- RFC822 items and whole-message sections ------------------------------------------------

def test_rfc822_items():
    assert one(MIXED, FetchAttribute("RFC822")) == ("RFC822", MIXED)
    assert one(MIXED, FetchAttribute("RFC822.HEADER")) == ("RFC822.HEADER", MIXED_HEADER)
    assert one(MIXED, FetchAttribute("RFC822.TEXT")) == ("RFC822.TEXT", MIXED_BODY)


def test_whole_message_sections():
    assert one(MIXED, section("")) == ("BODY[]", MIXED)
    assert one(MIXED, section("HEADER")) == ("BODY[HEADER]", MIXED_HEADER)
    assert one(MIXED, section("TEXT")) == ("BODY[TEXT]", MIXED_BODY)


def test_partials_slice_the_section_and_name_only_the_origin():
    size = len(MIXED)
    assert one(MIXED, section("", partial=(0, 10))) == ("BODY[]<0>", MIXED[:10])
    assert one(MIXED, section("", partial=(5, 10))) == ("BODY[]<5>", MIXED[5:15])
    assert one(MIXED, section("", partial=(size - 3, 100))) == (f"BODY[]<{size - 3}>",
                                                                MIXED[-3:])
    assert one(MIXED, section("", partial=(size, 1))) == (f"BODY[]<{size}>", b"")
    assert one(MIXED, section("", partial=(size + 50, 1))) == (f"BODY[]<{size + 50}>", b"")
    assert one(MIXED, section("1", partial=(4, 5))) == ("BODY[1]<4>", PART1_BODY[4:9])
    assert one(MIXED, section("HEADER.FIELDS (TO)", partial=(3, 4))) == (
        "BODY[HEADER.FIELDS (TO)]<3>", b" Bob")
    assert one(MIXED, section("9", partial=(0, 4))) == ("BODY[9]<0>", b"")


def test_header_fields_with_folding_and_case():
    name, value = one(MIXED, section("HEADER.FIELDS (subject X-Mixed-Case Missing)"))
    assert name == "BODY[HEADER.FIELDS (SUBJECT X-MIXED-CASE MISSING)]"
    assert value == crlf("Subject: Quarterly report\n   folded on\n\tand on\n"
                         "x-MIXED-case: yes\n\n")
    name, value = one(MIXED, section("HEADER.FIELDS (NOTHING)"))
    assert value == b"\r\n"


def test_header_fields_not():
    name, value = one(MIXED, section("HEADER.FIELDS.NOT (Subject Date MIME-Version "
                                     "Content-Type)"))
    assert name == "BODY[HEADER.FIELDS.NOT (SUBJECT DATE MIME-VERSION CONTENT-TYPE)]"
    assert value == crlf("From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\n"
                         "x-MIXED-case: yes\n\n")


def test_header_items_need_no_file():
    cached = details(MIXED)
    attrs = [FetchAttribute("RFC822.HEADER"), section("HEADER"),
             section("HEADER.FIELDS (FROM)"), section("HEADER.FIELDS.NOT (FROM)", partial=(0, 6))]
    assert needs(attrs) == Needs(True, False)
    items = render(attrs, info(MIXED), cached, None)
    assert [value for _, value in items] == [
        MIXED_HEADER, MIXED_HEADER, crlf("From: Alice <alice@example.org>\n\n"),
        b"To: Bo"]


def test_header_items_work_from_the_file_alone_too():
    assert render([section("HEADER.FIELDS (FROM)")], info(MIXED), None, MIXED) == [
        ("BODY[HEADER.FIELDS (FROM)]", crlf("From: Alice <alice@example.org>\n\n"))]


def test_field_names_that_are_not_atoms_are_quoted_in_the_response():
    attr = FetchAttribute("BODY", Section((), "HEADER.FIELDS", ('X"Q', "A B")), peek=True)
    assert one(MIXED, attr)[0] == 'BODY[HEADER.FIELDS ("X\\"Q" "A B")]'


# --- numbered parts -------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "expected"), [
    ("1", PART1_BODY),
    ("1.MIME", PART1_MIME),
    ("2", PART2_BODY),
    ("2.MIME", PART2_MIME),
    ("3", INNER_HEADER + INNER_BODY),
    ("3.MIME", PART3_MIME),
    ("3.HEADER", INNER_HEADER),
    ("3.TEXT", INNER_BODY),
    ("3.HEADER.FIELDS (SUBJECT)", crlf("Subject: inner one\n\n")),
    ("3.HEADER.FIELDS.NOT (SUBJECT CONTENT-TYPE)", crlf("From: Carol <carol@example.org>\n\n")),
    ("3.1", b"inner plain"),
    ("3.1.MIME", crlf("Content-Type: text/plain\n\n")),
    ("3.2", b"<p>inner html</p>"),
    ("4", PART4_BODY),
    # sections that do not exist are empty
    ("5", b""),
    ("9.1", b""),
    ("3.3", b""),
    ("1.1", b""),
    ("1.HEADER", b""),
    ("2.TEXT", b""),
    ("2.HEADER.FIELDS (FROM)", b""),
    ("3.1.HEADER", b""),
])
def test_parts_of_a_multipart_message(spec, expected):
    name, value = one(MIXED, section(spec))
    assert value == expected
    assert name.startswith("BODY[") and name.endswith("]")


def test_part_one_of_a_message_that_is_not_multipart_is_its_body():
    assert one(SIMPLE, section("1")) == ("BODY[1]", SIMPLE_BODY)
    assert one(SIMPLE, section("1.MIME")) == ("BODY[1.MIME]", SIMPLE_HEADER)
    assert one(SIMPLE, section("2")) == ("BODY[2]", b"")
    assert one(SIMPLE, section("1.1")) == ("BODY[1.1]", b"")
    assert one(SIMPLE, section("TEXT")) == ("BODY[TEXT]", SIMPLE_BODY)


def test_a_top_level_message_rfc822_has_the_wrapped_message_as_part_one():
    wrapped = crlf("Subject: wrapped\nContent-Type: text/plain\n\nwrapped body\n")
    assert one(TOP_MESSAGE, section("1"))[1] == wrapped
    assert one(TOP_MESSAGE, section("1.HEADER"))[1] == crlf(
        "Subject: wrapped\nContent-Type: text/plain\n\n")
    assert one(TOP_MESSAGE, section("1.TEXT"))[1] == crlf("wrapped body\n")
    assert one(TOP_MESSAGE, section("1.1"))[1] == crlf("wrapped body\n")


def test_digest_parts_default_to_message_rfc822():
    assert one(DIGEST, section("1.HEADER.FIELDS (SUBJECT)"))[1] == crlf("Subject: one\n\n")
    assert one(DIGEST, section("1.TEXT"))[1] == b"body one"
    assert one(DIGEST, section("2.1.MIME"))[1] == crlf(
        "Content-Type: image/png\nContent-Location: http://x/\n\n")
    assert one(DIGEST, section("2.1.1"))[1] == b""


def test_nul_octets_never_reach_a_literal():
    assert one(WITH_NUL, FetchAttribute("RFC822"))[1] == crlf("Subject: nul\n\n") + b"a\x80b\r\n"
    assert one(WITH_NUL, section("TEXT"))[1] == b"a\x80b\r\n"


def test_missing_data_is_an_error_not_an_empty_answer():
    with pytest.raises(ValueError):
        render([section("1")], info(MIXED), details(MIXED), None)
    with pytest.raises(ValueError):
        render([FetchAttribute("ENVELOPE")], info(MIXED), None, MIXED)
    with pytest.raises(ValueError):
        render([section("3.HEADER")], info(MIXED), None, MIXED)


# --- BINARY ---------------------------------------------------------------------------------

def test_binary_decodes_the_transfer_encoding():
    name, value = one(MIXED, section("1", name="BINARY"))
    assert name == "BINARY[1]"
    assert value == "Café softbreak\r\nsecond line".encode()
    assert type(value) is bytes
    name, value = one(MIXED, section("2", name="BINARY"))
    assert (name, value) == ("BINARY[2]", bytes(range(10)))
    assert isinstance(value, Literal8)
    assert one(MIXED, section("2", name="BINARY", partial=(8, 5))) == ("BINARY[2]<8>", b"\x08\t")
    assert one(MIXED, section("3.1", name="BINARY"))[1] == b"inner plain"


def test_binary_of_composite_parts_and_of_the_whole_message():
    assert one(MIXED, section("3", name="BINARY"))[1] == INNER_HEADER + INNER_BODY
    assert one(MIXED, section("", name="BINARY"))[1] == MIXED
    assert one(MIXED, section("3.1", name="BINARY"))[1] == b"inner plain"
    assert one(SIMPLE, section("", name="BINARY"))[1] == SIMPLE_HEADER + b"Hallo Welt \xe4!"
    assert one(SIMPLE, section("1", name="BINARY"))[1] == b"Hallo Welt \xe4!"
    assert one(SIMPLE, section("7", name="BINARY"))[1] == b""


def test_binary_size():
    assert one(MIXED, FetchAttribute("BINARY.SIZE", Section((2,)))) == ("BINARY.SIZE[2]", 10)
    assert one(MIXED, FetchAttribute("BINARY.SIZE", Section((1,)))) == (
        "BINARY.SIZE[1]", len("Café softbreak\r\nsecond line".encode()))
    assert one(SIMPLE, FetchAttribute("BINARY.SIZE", Section((1,))))[1] == 13
    assert one(SIMPLE, FetchAttribute("BINARY.SIZE", Section((8,))))[1] == 0


def test_binary_of_an_unknown_encoding_raises_unknown_cte():
    with pytest.raises(UnknownCTE) as caught:
        fetch(MIXED, FetchAttribute("UID"), section("4", name="BINARY"))
    assert caught.value.encoding == "X-UUENCODE"
    with pytest.raises(UnknownCTE):
        fetch(MIXED, FetchAttribute("BINARY.SIZE", Section((4,))))
    assert one(MIXED, section("4"))[1] == PART4_BODY  # BODY[4] is fine


# --- through a real store -------------------------------------------------------------------

def test_header_items_through_the_store_without_the_file(database, tmp_path):
    from mfserver.store import Store
    from tests.store.conftest import add_account

    store = Store(database, tmp_path / "mail")
    (tmp_path / "mail").mkdir()
    account = add_account(database)
    store.provision(account)
    delivered = store.deliver(account, MIXED.replace(b"\r\n", b"\n"), flags=0)
    folder = store.get_folder(account, "INBOX")
    message = store.messages(account, folder.id, uids=[delivered.uid])[0]
    cached = store.details(account, folder.id, [delivered.uid])[0]
    attrs = [FetchAttribute("UID"), FetchAttribute("FLAGS"), FetchAttribute("ENVELOPE"),
             FetchAttribute("BODY"), FetchAttribute("RFC822.HEADER"),
             section("HEADER.FIELDS (SUBJECT TO)"), section("HEADER.FIELDS.NOT (SUBJECT)")]
    assert needs(attrs) == Needs(True, False)
    store.message_path(account, folder.id, delivered.uid).unlink()  # no file to read
    items = dict(render(attrs, message, cached, None))
    assert items["UID"] == delivered.uid and items["FLAGS"] == []
    assert items["ENVELOPE"][1] == "Quarterly report   folded on\tand on"
    assert items["BODY"] == parse_message(MIXED).body
    assert items["RFC822.HEADER"] == MIXED_HEADER
    assert items["BODY[HEADER.FIELDS (SUBJECT TO)]"] == crlf(
        "To: Bob <bob@example.org>\nSubject: Quarterly report\n   folded on\n\tand on\n\n")
    assert items["BODY[HEADER.FIELDS.NOT (SUBJECT)]"].startswith(crlf(
        "From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nx-MIXED-case"))


def test_body_sections_through_the_store(database, tmp_path):
    from mfserver.store import Store
    from tests.store.conftest import add_account

    store = Store(database, tmp_path / "mail")
    (tmp_path / "mail").mkdir()
    account = add_account(database)
    store.provision(account)
    delivered = store.deliver(account, MIXED.replace(b"\r\n", b"\n"))
    folder = store.get_folder(account, "INBOX")
    message = store.messages(account, folder.id, uids=[delivered.uid])[0]
    cached = store.details(account, folder.id, [delivered.uid])[0]
    raw = store.read_message(account, folder.id, delivered.uid)
    items = render([section("3.HEADER"), section("1.MIME"), section("2", name="BINARY"),
                    FetchAttribute("RFC822.SIZE")], message, cached, raw)
    assert items == [("BODY[3.HEADER]", INNER_HEADER), ("BODY[1.MIME]", PART1_MIME),
                     ("BINARY[2]", bytes(range(10))), ("RFC822.SIZE", len(MIXED))]
