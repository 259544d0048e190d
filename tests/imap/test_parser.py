"""The IMAP command parser: real clients' commands, every command's forms, every error, fuzzing.

The transcripts are command lines as Thunderbird, iOS Mail, mbsync, mutt and Outlook send them
(from their sources and from captured sessions), and the examples of the RFCs. FETCH items and
SEARCH keys are tested in detail in test_parser_fetch.py and test_parser_search.py.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfserver.imap import parser
from mfserver.imap.commands import (
    AppendArgs,
    AuthenticateArgs,
    BadCharset,
    Command,
    CompressArgs,
    CopyArgs,
    CreateArgs,
    EnableArgs,
    ExpungeArgs,
    GetQuotaArgs,
    IdArgs,
    ListArgs,
    LoginArgs,
    MailboxArgs,
    ParseError,
    QResyncArgs,
    RenameArgs,
    SelectArgs,
    SetQuotaArgs,
    StatusArgs,
    StoreArgs,
)
from mfserver.imap.parser import literal_at_end, parse_command
from mfserver.imap.syntax import SequenceSet

IMAP_SOURCES = Path(parser.__file__).parent


def parse(line: str | bytes, **options) -> Command:
    return parse_command(line.encode("utf-8") if isinstance(line, str) else line, **options)


def refused(line: str | bytes, **options) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(line, **options)
    return caught.value


def seqs(*ranges) -> SequenceSet:
    return SequenceSet(tuple(ranges))


RFC_MESSAGE = (b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
               b"From: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
               b"Subject: afternoon meeting\r\n"
               b"To: mooch@owatagu.siam.edu\r\n"
               b"Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n"
               b"MIME-Version: 1.0\r\n"
               b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
               b"\r\n"
               b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n")
assert len(RFC_MESSAGE) == 310

# --- transcripts ------------------------------------------------------------------------------

TRANSCRIPTS = {
    "thunderbird": [
        "1 capability",
        '2 login "alice@example.org" "correct horse"',
        "2 authenticate PLAIN",
        '3 ID ("name" "Thunderbird" "version" "115.3.1")',
        "4 namespace",
        "5 enable CONDSTORE",
        "5 enable QRESYNC UTF8=ACCEPT",
        '6 list "" "*"',
        '7 lsub "" "*"',
        '8 list "" "INBOX"',
        '9 create "Trash"',
        '10 select "INBOX"',
        '10 select "INBOX" (CONDSTORE)',
        '11 getquotaroot "INBOX"',
        "12 UID fetch 1:* (FLAGS)",
        "12 UID fetch 7:* (FLAGS)",
        "13 UID fetch 1:* (FLAGS) (CHANGEDSINCE 123)",
        "13 UID fetch 1:* (FLAGS) (CHANGEDSINCE 123 VANISHED)",
        "14 UID fetch 7 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject "
        "Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type "
        "Reply-To)])",
        "15 UID fetch 12 (UID BODY.PEEK[HEADER.FIELDS (Content-Type Content-Transfer-Encoding)] "
        "BODY.PEEK[TEXT]<0.2048>)",
        "16 UID fetch 4 (UID RFC822.SIZE BODY.PEEK[])",
        "17 UID store 4 +FLAGS (\\Seen)",
        "17 UID store 4 -FLAGS (\\Seen \\Flagged)",
        "17 UID store 4 +FLAGS.SILENT (\\Deleted)",
        '18 UID copy 4 "Trash"',
        '18 UID move 4,6:9 "Trash"',
        "19 UID expunge 4",
        "20 noop",
        "21 IDLE",
        '22 STATUS "Drafts" (UIDNEXT MESSAGES UNSEEN RECENT)',
        '23 UID SEARCH OR SUBJECT "lunch" FROM "lunch"',
        "24 UID SEARCH CHARSET UTF-8 SUBJECT {12}\r\nпривет",
        b'25 append "Sent" (\\Seen) {310}\r\n' + RFC_MESSAGE,
        "26 expunge",
        "27 close",
        "28 logout",
    ],
    "ios-mail": [
        '1 ID ("name" "iPhone Mail" "version" "19A346" "os" "iOS" "os-version" "15.0 (19A346)")',
        '2 LOGIN "bob" "hunter2"',
        '3 LIST "" ""',
        '4 LIST "" "*"',
        "5 SELECT INBOX",
        "6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1234)",
        "7 FETCH 1:* (UID FLAGS)",
        "8 UID SEARCH 1:* NOT DELETED",
        "9 UID FETCH 1:* (INTERNALDATE UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (date "
        "subject from to cc message-id in-reply-to references x-priority "
        "x-uniform-type-identifier x-universally-unique-identifier)] MODSEQ)",
        "10 UID FETCH 39 (BODYSTRUCTURE BODY.PEEK[HEADER])",
        "11 UID FETCH 39 (BODY.PEEK[1]<0.10240>)",
        "11 UID FETCH 39 (BODY.PEEK[1.2.MIME] BODY.PEEK[1.2]<0.4096>)",
        '12 STATUS "Sent Messages" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)',
        b'13 APPEND "Sent Messages" (\\Seen) {310}\r\n' + RFC_MESSAGE,
        "14 UID STORE 39 +FLAGS.SILENT (\\Deleted)",
        "15 UID EXPUNGE 39",
        "16 IDLE",
    ],
    "mbsync": [
        'a LOGIN "user" {6+}\r\nsecret',
        "a COMPRESS DEFLATE",
        '1 LIST "" "*"',
        '2 SELECT "INBOX"',
        "3 UID FETCH 1:5 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-TUID)])",
        "4 UID FETCH 12:14 (UID BODY.PEEK[HEADER.FIELDS (X-TUID)])",
        "5 UID FETCH 5 (BODY.PEEK[])",
        "6 UID STORE 5 +FLAGS.SILENT (\\Seen \\Flagged)",
        b'7 APPEND "INBOX" (\\Seen) {310+}\r\n' + RFC_MESSAGE,
        b'8 APPEND "Archive" (\\Seen) "22-Nov-2021 10:00:00 +0100" {310+}\r\n' + RFC_MESSAGE,
        "9 UID SEARCH HEADER X-TUID 0123456789ab",
        '10 CREATE "Archive"',
        "11 UID EXPUNGE 1:5",
    ],
    "mutt": [
        "a0001 CAPABILITY",
        "a0002 AUTHENTICATE PLAIN",
        'a0003 LIST "" ""',
        'a0004 SELECT "INBOX"',
        "a0005 FETCH 1:4 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM "
        "SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION "
        "IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL X-ORIGINAL-TO)])",
        "a0006 UID FETCH 5 BODY.PEEK[]",
        "a0007 UID STORE 1,3:5 +FLAGS.SILENT (\\Deleted)",
        'a0008 UID COPY 1:3 "Archive"',
        'a0009 STATUS "INBOX" (MESSAGES)',
        'a0010 SELECT "INBOX" (QRESYNC (1234 5678 1:100))',
        "a0011 UID SEARCH SUBJECT {3}\r\nfoo",
    ],
    "outlook": [
        '1 LIST "" "*"',
        '2 SELECT "INBOX"',
        "3 UID FETCH 1:* (UID FLAGS)",
        "4 UID SEARCH UID 1:* UNDELETED",
        "5 UID FETCH 4 (UID RFC822.SIZE BODY.PEEK[])",
        "6 UID STORE 4 +FLAGS.SILENT (\\Deleted \\Seen)",
        "7 FETCH 1 (BODY.PEEK[HEADER.FIELDS (References X-Ref X-Priority X-MSMail-Priority "
        "X-MSOESRec Newsgroups)] ENVELOPE RFC822.SIZE UID FLAGS INTERNALDATE)",
        "8 FETCH 1:* (UID FLAGS)",
        "9 NOOP ",  # a trailing space
    ],
    "rfc": [
        "a001 LOGIN SMITH SESAME",  # RFC 3501 6.2.3
        "A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man",  # RFC 7888 4
        "a01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",  # RFC 4959 3
        "A142 SELECT INBOX",  # RFC 3501 6.3.1
        "A932 EXAMINE blurdybloop",
        "A003 CREATE owatagusiam/",
        "A683 DELETE blurdybloop",
        "A683 RENAME blurdybloop sarasoop",
        "A002 SUBSCRIBE #news.comp.mail.mime",
        "A002 UNSUBSCRIBE #news.comp.mail.mime",
        'A101 LIST "" ""',
        'A102 LIST #news.comp.mail.misc ""',
        'A103 LIST /usr/staff/jones ""',
        "A202 LIST ~/Mail/ %",
        'A002 LSUB "#news." "comp.mail.*"',
        "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
        b"A003 APPEND saved-messages (\\Seen) {310}\r\n" + RFC_MESSAGE,
        b"A003 APPEND saved-messages (\\Seen) ~{310}\r\n" + RFC_MESSAGE,  # RFC 3516
        "FXXZ CHECK",
        "A341 CLOSE",
        "A202 EXPUNGE",
        'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        'A283 SEARCH TEXT "string not in mailbox"',
        "A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX",
        "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        "A003 STORE 2:4 +FLAGS (\\Deleted)",
        "A003 COPY 2:4 MEETING",
        "A999 UID FETCH 4827313:4828442 FLAGS",
        "abcd CAPABILITY",
        "a047 NOOP",
        "A023 LOGOUT",
        "a002 STARTTLS",
        'a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")',
        "a023 ID NIL",
        "t2 ENABLE CONDSTORE X-GOOD-IDEA",  # RFC 5161
        "A001 NAMESPACE",  # RFC 2342
        "A342 UNSELECT",  # RFC 3691
        "a001 IDLE",  # RFC 2177
        "A004 UID EXPUNGE 3000:3002",  # RFC 4315
        "a UID MOVE 42:69 foo",  # RFC 6851
        "a MOVE 1:3 foo",
        "a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121231000) FLAGS.SILENT (\\Deleted)",  # 7162
        "s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
        's100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)',
        'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338',
        "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,"
        "9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,"
        "29997)))",
        "A02 LIST (SUBSCRIBED) \"\" \"*\"",  # RFC 5258
        'A03 LIST () "" "%" RETURN (CHILDREN)',
        'A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)',
        'A05 LIST (REMOTE SUBSCRIBED) "" "*"',
        'A06 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)',
        'C02 LIST "" ("INBOX" "Drafts" "Sent/%")',
        "A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",  # RFC 5819
        't1 LIST "" % RETURN (SPECIAL-USE)',  # RFC 6154
        "t1 LIST (SPECIAL-USE) \"\" *",
        "t3 CREATE MySpecial (USE (\\Drafts \\Sent))",
        'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',  # 4731
        'A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        'A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',  # RFC 5182
        "A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.SIZE)",
        'B283 UID COPY $ "other"',
        "t FETCH 1 (BINARY.PEEK[1]<0.1024>)",  # RFC 3516
        "t FETCH 2 (BINARY.SIZE[1])",
        'G0001 GETQUOTA "!partition/sda4"',  # RFC 9208
        "G0002 GETQUOTAROOT INBOX",
        'S0000 SETQUOTA "#user/alice" (STORAGE 510)',
        "a COMPRESS DEFLATE",  # RFC 4978
        "a1 SEARCH UID 1:* YOUNGER 3600",  # RFC 5032
    ],
}
CORPUS = [(client, line) for client, lines in TRANSCRIPTS.items() for line in lines]


def _wire(line: str | bytes) -> bytes:
    return line.encode("utf-8") if isinstance(line, str) else line


def _rfc_example(start: str) -> str | bytes:
    return next(line for line in TRANSCRIPTS["rfc"] if _wire(line).startswith(start.encode()))


@pytest.mark.parametrize(("client", "line"), CORPUS, ids=[f"{c}-{i}" for i, (c, _) in
                                                         enumerate(CORPUS)])
def test_real_clients_commands_parse(client, line):
    command = parse(line)
    assert command.tag == _wire(line).split(b" ", 1)[0].decode()
    assert command.name in parser.COMMANDS


def test_thunderbird_header_fetch():
    command = parse(next(line for line in TRANSCRIPTS["thunderbird"] if "Newsgroups" in line))
    assert (command.name, command.uid) == ("FETCH", True)
    body = command.args.attributes[-1]
    assert body.peek and body.section.text == "HEADER.FIELDS"
    assert body.section.fields[:3] == ("FROM", "TO", "CC") and len(body.section.fields) == 14


def test_lowercase_and_mixed_case_keywords():
    assert parse("5 uid Fetch 1:* (flags)") == parse("5 UID FETCH 1:* (FLAGS)")
    assert parse("5 Select inbox").args == SelectArgs("INBOX")


@pytest.mark.parametrize(("client", "line"), CORPUS, ids=[f"{c}-{i}" for i, (c, _) in
                                                         enumerate(CORPUS)])
def test_trailing_spaces_are_forgiven(client, line):
    wire = _wire(line)  # after a literal too: its octets are counted, not scanned
    assert parse(wire + b" ") == parse(wire)
    assert parse(wire + b"   ") == parse(wire)


# --- commands one by one ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "IDLE",
                                  "NAMESPACE", "UNSELECT", "CHECK", "CLOSE", "EXPUNGE"])
def test_commands_without_arguments(name):
    assert parse(f"x {name}") == Command("x", name, False, None)
    assert refused(f"x {name} foo").message == "unexpected data at end of command"


def test_tags():
    assert parse("a]1 NOOP").tag == "a]1"  # resp-specials are astring chars
    assert parse("~!#$&' NOOP").tag == "~!#$&'"
    assert parse("a.b-c_d NOOP").tag == "a.b-c_d"


def test_login():
    assert parse("a LOGIN alice secret").args == LoginArgs("alice", "secret")
    assert parse('a LOGIN "al\\"ice" "se\\\\cret"').args == LoginArgs('al"ice', "se\\cret")
    assert parse(b"a LOGIN {5}\r\nalice {6}\r\nsec et").args == LoginArgs("alice", "sec et")
    assert parse('a LOGIN "" ""').args == LoginArgs("", "")
    assert parse('a LOGIN "jörg" "pässword"').args == LoginArgs("jörg", "pässword")
    assert parse("a LOGIN a]b c").args == LoginArgs("a]b", "c")


def test_authenticate():
    assert parse("a AUTHENTICATE plain").args == AuthenticateArgs("PLAIN")
    assert parse("a AUTHENTICATE PLAIN =").args == AuthenticateArgs("PLAIN", b"")
    assert parse("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==").args == AuthenticateArgs(
        "PLAIN", b"\x00alice\x00secret")
    assert parse("a AUTHENTICATE XOAUTH2 dXNlcj0=").args.initial_response == b"user="


def test_id():
    assert parse("a ID NIL").args == IdArgs(None)
    assert parse("a ID nil").args == IdArgs(None)
    assert parse("a ID ()").args == IdArgs(())  # not in RFC 2971's grammar; harmless
    assert parse('a ID ("name" "x" "os" NIL)').args == IdArgs((("name", "x"), ("os", None)))
    assert parse(b'a ID ({4}\r\nname "x")').args == IdArgs((("name", "x"),))


def test_enable_and_compress():
    assert parse("a ENABLE condstore utf8=accept").args == EnableArgs(
        ("CONDSTORE", "UTF8=ACCEPT"))
    assert parse("a compress deflate").args == CompressArgs("DEFLATE")


def test_select_and_examine():
    assert parse('a SELECT "inbox"').args == SelectArgs("INBOX")
    assert parse("a EXAMINE InBoX").args == SelectArgs("INBOX")
    assert parse("a SELECT INBOX (CONDSTORE)").args == SelectArgs("INBOX", condstore=True)
    qresync = parse(_rfc_example("B04 SELECT")).args.qresync
    assert qresync == QResyncArgs(
        67890007, 90060115194045000, seqs((1, 29997)),
        seqs((5000, 5000), (7500, 7500), (9000, 9000), (9990, 9999)),
        seqs(*[(n, n) for n in (15000, 22500, 27000, 29970, 29973, 29976, 29979, 29982, 29985,
                                29988, 29991, 29994, 29997)]))
    assert parse("a SELECT x (QRESYNC (1 0))").args.qresync == QResyncArgs(1, 0)
    only_match = parse("a SELECT x (QRESYNC (1 2 (1:3 5:7)))").args.qresync  # no known-uids
    assert only_match == QResyncArgs(1, 2, None, seqs((1, 3)), seqs((5, 7)))
    both = parse("a SELECT x (CONDSTORE QRESYNC (1 2 5))").args
    assert both.condstore and both.qresync.known_uids == seqs((5, 5))


def test_create_with_special_use():
    assert parse("a CREATE foo/bar").args == CreateArgs("foo/bar")
    assert parse("a CREATE x (USE (\\drafts \\SENT \\X-Custom))").args == CreateArgs(
        "x", ("\\Drafts", "\\Sent", "\\X-Custom"))
    assert parse("a CREATE x (USE ())").args == CreateArgs("x", ())


def test_mailbox_commands():
    assert parse("a DELETE &AOk-t&AOk-").args == MailboxArgs("été")
    assert parse("a SUBSCRIBE inbox").args == MailboxArgs("INBOX")
    assert parse("a RENAME a b").args == RenameArgs("a", "b")
    assert parse('a RENAME "Old Name" "Entw&APw-rfe"').args == RenameArgs("Old Name",
                                                                            "Entwürfe")
    assert parse("a GETQUOTAROOT Drafts").args == MailboxArgs("Drafts")


def test_inbox_is_only_normalised_in_ascii():
    assert parse("a SELECT inbox.sub").args.mailbox == "inbox.sub"
    # U+0131 (dotless i) upper-cases to "I": still not INBOX
    assert parse('a SELECT "&ATE-nbox"').args.mailbox == "ınbox"
    assert parse(b'a SELECT "\xc4\xb1nbox"', utf8=True).args.mailbox == "ınbox"


def test_utf8_accept_mailbox_names():
    assert parse('a SELECT "Café &Co"', utf8=True).args.mailbox == "Café &Co"
    assert parse("a SELECT &AOk-", utf8=True).args.mailbox == "&AOk-"  # no mUTF-7 any more
    assert refused('a SELECT "Café"').message == "invalid mailbox name encoding"


def test_list_basic():
    assert parse('a LIST "" "*"').args == ListArgs("", ("*",))
    assert parse("a LIST ~/Mail/ %").args == ListArgs("~/Mail/", ("%",))
    assert parse("a LIST \"\" foo]%").args.patterns == ("foo]%",)
    assert parse('a LIST "" &AOk-*').args.patterns == ("é*",)
    assert parse('a LIST "" inbox').args.patterns == ("INBOX",)
    assert parse('a LSUB "#news." "comp.mail.*"').args == ListArgs("#news.", ("comp.mail.*",))


def test_list_extended():
    args = parse('a LIST (subscribed recursivematch) "" ("INBOX" "Sent/%") RETURN '
                 "(children STATUS (MESSAGES unseen messages) SPECIAL-USE)").args
    assert args == ListArgs("", ("INBOX", "Sent/%"), frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
                            frozenset({"CHILDREN", "STATUS", "SPECIAL-USE"}),
                            ("MESSAGES", "UNSEEN"), True)
    assert parse('a LIST () "" "%"').args == ListArgs("", ("%",), extended=True)
    assert parse('a LIST "" ("%")').args.extended
    assert parse('a LIST "" "%" RETURN ()').args == ListArgs("", ("%",), extended=True)
    assert parse('a LIST (SPECIAL-USE RECURSIVEMATCH) "" "*"').args.select_options == {
        "SPECIAL-USE", "RECURSIVEMATCH"}
    assert parse('a LIST (REMOTE REMOTE) "" "*"').args.select_options == {"REMOTE"}


def test_status():
    args = parse("a STATUS INBOX (messages recent uidnext uidvalidity unseen highestmodseq "
                 "size deleted appendlimit messages)").args
    assert args == StatusArgs("INBOX", ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY",
                                        "UNSEEN", "HIGHESTMODSEQ", "SIZE", "DELETED",
                                        "APPENDLIMIT"))


def test_append():
    pst = timezone(-timedelta(hours=8))
    args = parse(b'A003 APPEND saved-messages (\\Seen) " 7-Feb-1994 21:52:25 -0800" {310}\r\n'
                 + RFC_MESSAGE).args
    assert args == AppendArgs("saved-messages", RFC_MESSAGE, ("\\Seen",),
                              datetime(1994, 2, 7, 21, 52, 25, tzinfo=pst))
    assert parse(b"a APPEND x {3+}\r\nabc").args == AppendArgs("x", b"abc")
    assert parse(b'a APPEND x "07-Feb-1994 21:52:25 +0000" {0}\r\n').args.message == b""
    assert parse(b'a APPEND x "7-Feb-1994 21:52:25 +0530" {1}\r\nz').args.internal_date == (
        datetime(1994, 2, 7, 16, 22, 25, tzinfo=UTC))  # one-digit day: lenient
    assert parse(b'a APPEND x "30-Jun-2016 23:59:60 +0000" {1}\r\nz').args.internal_date == (
        datetime(2016, 6, 30, 23, 59, 59, tzinfo=UTC))  # a leap second
    flags = parse(b"a APPEND x (\\SEEN \\answered $Forwarded) {1}\r\nz").args.flags
    assert flags == ("\\Seen", "\\Answered", "$Forwarded")
    assert parse(b"a APPEND x () {1}\r\nz").args.flags == ()
    binary = parse(b"a APPEND x ~{3}\r\na\x00b").args
    assert binary.binary and binary.message == b"a\x00b"
    assert parse(b"a APPEND x ~{3+}\r\na\x00b").args.binary
    assert parse(b"a APPEND x {3}\r\na\x00b").args.message == b"a\x00b"  # lenient on NUL


def test_store():
    args = parse("a STORE 1:3,5 flags.silent \\Seen $Work").args
    assert args == StoreArgs(seqs((1, 3), (5, 5)), "replace", ("\\Seen", "$Work"), True)
    assert parse("a STORE 1 -FLAGS ()").args == StoreArgs(seqs((1, 1)), "remove", ())
    assert parse("a STORE * +flags \\draft").args.flags == ("\\Draft",)
    assert parse("a STORE 1 (unchangedsince 0) FLAGS ()").args.unchanged_since == 0
    assert parse("a STORE $ +FLAGS (\\Seen)").args.sequence_set == SequenceSet(saved=True)


def test_copy_move_expunge():
    assert parse("a UID COPY 1:* Archive").args == CopyArgs(seqs((1, None)), "Archive")
    assert parse('a MOVE 2 "Gel&APY-scht"').args == CopyArgs(seqs((2, 2)), "Gelöscht")
    assert parse("a UID EXPUNGE 3000:3002").args == ExpungeArgs(seqs((3000, 3002)))
    assert parse("a UID EXPUNGE $").args == ExpungeArgs(SequenceSet(saved=True))
    assert parse("a EXPUNGE").args is None


def test_quota():
    assert parse('a GETQUOTA ""').args == GetQuotaArgs("")
    assert parse("a SETQUOTA root (storage 512 message 1000)").args == SetQuotaArgs(
        "root", (("STORAGE", 512), ("MESSAGE", 1000)))
    assert parse('a SETQUOTA "" ()').args == SetQuotaArgs("", ())


def test_sequence_sets():
    args = parse("a FETCH 1,2:4,*:5,7:*,* FLAGS").args
    assert args.sequence_set == seqs((1, 1), (2, 4), (None, 5), (7, None), (None, None))
    assert parse("a FETCH 4294967295 FLAGS").args.sequence_set == seqs((2**32 - 1,) * 2)


def test_big_sequence_set_is_linear():
    numbers = b",".join(b"%d:%d" % (n, n + 1) for n in range(1, 300_000, 3))
    started = time.perf_counter()
    args = parse(b"a UID FETCH " + numbers + b" (FLAGS)").args
    assert len(args.sequence_set.ranges) == 100_000
    assert time.perf_counter() - started < 2


# --- framing ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "expected"), [
    (b"a LOGIN {5}", (5, False, False)),
    (b"a LOGIN alice {11+}", (11, True, False)),
    (b"a APPEND x ~{310}", (310, False, True)),
    (b"a APPEND x ~{310+}", (310, True, True)),
    (b"{0}", (0, False, False)),
    (b"a APPEND x {" + b"9" * 30 + b"}", (parser.LITERAL_SIZE_CAP, False, False)),
    (b"a NOOP", None),
    (b"a LOGIN {5", None),
    (b"a LOGIN {}", None),
    (b"a LOGIN {+}", None),
    (b"a LOGIN {5a}", None),
    (b"a LOGIN {-5}", None),
    (b"a LOGIN }", None),
    (b'a LOGIN "x}"', None),
    (b"", None),
])
def test_literal_at_end(line, expected):
    assert literal_at_end(line) == expected


def test_literal_content_is_never_syntax():
    content = b') "\r\n{5}\r\n* BAD'
    command = parse(b"a LOGIN {%d}\r\n" % len(content) + content + b" x")
    assert command.args == LoginArgs(content.decode(), "x")


# --- every error ------------------------------------------------------------------------------

ERRORS = [  # (command, tag, message)
    (b"", None, "missing tag"),
    (b"   ", None, "missing tag"),
    (b" a NOOP", None, "invalid tag"),
    (b"+a NOOP", None, "invalid tag"),
    (b"a+ NOOP", None, "invalid tag"),
    (b"a* NOOP", None, "invalid tag"),
    (b"a(b NOOP", None, "invalid tag"),
    (b"\xc3\xa9 NOOP", None, "invalid tag"),
    (b"a", "a", "missing command"),
    (b"a ", "a", "missing command"),
    (b"a UID", "a", "missing argument"),
    (b"a (NOOP)", "a", "invalid command name"),
    (b"a FOO", "a", "unknown command FOO"),
    (b"a XLIST \"\" *", "a", "unknown command XLIST"),
    (b"a " + b"X" * 40, "a", "unknown command ?"),
    (b"a UID NOOP", "a", "unknown command UID NOOP"),
    (b"a NOOP  ", "a", None),  # trailing spaces: fine
    (b"a NOOP x", "a", "unexpected data at end of command"),
    (b"a NOOP\r\n", "a", "unexpected data at end of command"),
    (b"a  NOOP", "a", "invalid command name"),
    (b"a LOGIN  alice x", "a", "expected a string"),
    (b"a LOGIN alice", "a", "missing argument"),
    (b"a LOGIN alice ", "a", "missing argument"),
    (b"a LOGIN alice\tx", "a", "expected a space"),
    (b"a LOGIN \xc3\xa9 x", "a", "8-bit character outside a string"),
    (b"a LOGIN alice\xc3\xa9 x", "a", "8-bit character outside a string"),
    (b'a LOGIN "alice x', "a", "invalid quoted string"),
    (b'a LOGIN "a\\lice" x', "a", "invalid quoted string"),
    (b'a LOGIN "a\rb" x', "a", "invalid quoted string"),
    (b'a LOGIN "a\x00b" x', "a", "invalid quoted string"),
    (b'a LOGIN "\xff" x', "a", "string is not valid UTF-8"),
    (b"a LOGIN {2}\r\n\xc3( x", "a", "string is not valid UTF-8"),
    (b"a LOGIN {3}\r\na\x00b x", "a", "NUL in literal"),
    (b"a LOGIN {3}abc x", "a", "invalid literal"),
    (b"a LOGIN {3x}\r\nabc x", "a", "invalid literal"),
    (b"a LOGIN {99999999999999999999}\r\nabc x", "a", "invalid literal"),
    (b"a LOGIN {9}\r\nabc", "a", "literal shorter than announced"),
    (b"a LOGIN ~{3}\r\nabc x", "a", "literal8 not allowed here"),
    (b"a SELECT &AGE-", "a", "invalid mailbox name encoding"),
    (b"a SELECT \"caf\xc3\xa9\"", "a", "invalid mailbox name encoding"),
    (b"a SELECT \"\xff\"", "a", "invalid mailbox name encoding"),
    (b"a SELECT INBOX (CONDSTORE", "a", "unbalanced parenthesis"),
    (b"a SELECT INBOX (CONDSTORE))", "a", "unbalanced parenthesis"),
    (b"a SELECT INBOX (CONDSTORE) )", "a", "unbalanced parenthesis"),
    (b"a SELECT INBOX ()", "a", "empty list"),
    (b"a SELECT INBOX CONDSTORE", "a", "expected '('"),
    (b"a SELECT INBOX (CONDSTORE(", "a", "expected a space"),
    (b"a SELECT INBOX (FOO)", "a", "unknown SELECT parameter FOO"),
    (b"a SELECT INBOX (\\x)", "a", "expected a SELECT parameter"),
    (b"a SELECT INBOX (CONDSTORE condstore)", "a", "duplicate SELECT parameter CONDSTORE"),
    (b"a SELECT INBOX (QRESYNC (0 1))", "a", "expected a non-zero number"),
    (b"a SELECT INBOX (QRESYNC (x 1))", "a", "expected a number"),
    (b"a SELECT INBOX (QRESYNC (4294967296 1))", "a", "number too large"),
    (b"a SELECT INBOX (QRESYNC (1 9223372036854775808))", "a", "number too large"),
    (b"a SELECT INBOX (QRESYNC (1 2 1:*))", "a", "'*' not allowed here"),
    (b"a SELECT INBOX (QRESYNC (1 2 $))", "a", "'$' not allowed here"),
    (b"a SELECT INBOX (QRESYNC (1 2 1:5 (1:2 3:4])))", "a", "invalid sequence set"),
    (b"a SELECT INBOX (QRESYNC (1 2 1:5 (1:2 3:4)", "a", "unbalanced parenthesis"),
    (b"a SELECT INBOX (QRESYNC (1 2 1:5 (1:2 3:4) x))", "a", "expected ')'"),
    (b"a FETCH 0 FLAGS", "a", "invalid sequence set"),
    (b"a FETCH 01 FLAGS", "a", "invalid sequence set"),
    (b"a FETCH 4294967296 FLAGS", "a", "invalid sequence set"),
    (b"a FETCH 1: FLAGS", "a", "invalid sequence set"),
    (b"a FETCH 1,,2 FLAGS", "a", "invalid sequence set"),
    (b"a FETCH 1:2:3 FLAGS", "a", "invalid sequence set"),
    (b"a FETCH $x FLAGS", "a", "invalid sequence set"),
    (b"a FETCH 1,$ FLAGS", "a", "invalid sequence set"),
    (b"a FETCH x FLAGS", "a", "invalid sequence set"),
    (b"a FETCH", "a", "missing argument"),
    (b"a ID (\"a\" \"b\" \"c\")", "a", "expected a space"),
    (b"a ID (\"a\")", "a", "expected a space"),
    (b"a ID (a b)", "a", "expected a string"),
    (b"a ENABLE", "a", "missing argument"),
    (b"a ENABLE (x)", "a", "expected a capability"),
    (b"a COMPRESS GZIP", "a", "unknown compression algorithm GZIP"),
    (b"a COMPRESS {1}\r\nx", "a", "expected a compression algorithm"),
    (b"a AUTHENTICATE", "a", "missing argument"),
    (b"a AUTHENTICATE \"PLAIN\"", "a", "expected a mechanism name"),
    (b"a AUTHENTICATE PLAIN abc", "a", "invalid base64"),
    (b"a AUTHENTICATE PLAIN a=bc", "a", "invalid base64"),
    (b"a AUTHENTICATE PLAIN (x)", "a", "invalid base64"),
    (b"a CREATE x (USE (Drafts))", "a", "invalid special-use attribute"),
    (b"a CREATE x (USE (\\(x))", "a", "invalid special-use attribute"),
    (b"a CREATE x (FOO (bar))", "a", "unknown CREATE parameter FOO"),
    (b"a CREATE x ({3}\r\nUSE (\\Sent))", "a", "expected a CREATE parameter"),
    (b"a CREATE x (USE () USE ())", "a", "duplicate CREATE parameter USE"),
    (b"a LIST (FOO) \"\" *", "a", "unknown LIST option FOO"),
    (b"a LIST (\"x\") \"\" *", "a", "expected a LIST option"),
    (b"a LIST (RECURSIVEMATCH) \"\" *", "a", "RECURSIVEMATCH needs a selection option"),
    (b"a LIST (REMOTE RECURSIVEMATCH) \"\" *", "a", "RECURSIVEMATCH needs a selection option"),
    (b"a LIST \"\" * RETURN (FOO)", "a", "unknown LIST option FOO"),
    (b"a LIST \"\" * RETURN (STATUS)", "a", "expected a space"),
    (b"a LIST \"\" * RETURN (STATUS ())", "a", "empty list"),
    (b"a LIST \"\" * FOO (CHILDREN)", "a", "unexpected data at end of command"),
    (b"a LIST \"\" ()", "a", "empty list"),
    (b"a LIST \"\" (\\x)", "a", "expected a mailbox pattern"),
    (b"a LIST \"\" \\x", "a", "expected a mailbox pattern"),
    (b"a LSUB \"\" * RETURN (CHILDREN)", "a", "unexpected data at end of command"),
    (b"a STATUS INBOX (FOO)", "a", "unknown STATUS item FOO"),
    (b"a STATUS INBOX (\"MESSAGES\")", "a", "expected a STATUS item"),
    (b"a STATUS INBOX MESSAGES", "a", "expected '('"),
    (b"a APPEND x", "a", "missing argument"),
    (b"a APPEND x \"msg\"", "a", "invalid date-time"),
    (b"a APPEND x \"32-Jan-2020 10:00:00 +0000\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x \"01-Foo-2020 10:00:00 +0000\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x \"01-Jan-2020 24:00:00 +0000\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x \"01-Jan-2020 10:00:61 +0000\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x \"01-Jan-2020 10:00:00 +2400\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x \"01-Jan-2020 10:00:00 +0060\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x \"01-Jan-0000 10:00:00 +0000\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x \"01-Jan-2020 10:00 +0000\" {1}\r\nz", "a", "invalid date-time"),
    (b"a APPEND x hello", "a", "expected a message literal"),
    (b"a APPEND x (\\Seen) hello", "a", "expected a message literal"),
    (b"a APPEND x (\\) {1}\r\nz", "a", "invalid flag"),
    (b"a APPEND x (\\Seen \"x\") {1}\r\nz", "a", "invalid flag"),
    (b"a APPEND x {1}\r\nzz", "a", "unexpected data at end of command"),
    (b"a STORE 1 FLAG (\\Seen)", "a", "expected FLAGS, +FLAGS or -FLAGS"),
    (b"a STORE 1 +FLAGS.LOUD (\\Seen)", "a", "expected FLAGS, +FLAGS or -FLAGS"),
    (b"a STORE 1 \"FLAGS\" (\\Seen)", "a", "expected FLAGS, +FLAGS or -FLAGS"),
    (b"a STORE 1 FLAGS", "a", "missing argument"),
    (b"a STORE 1 FLAGS \\Seen (x)", "a", "invalid flag"),
    (b"a STORE 1 (FOO 1) FLAGS ()", "a", "unknown STORE modifier FOO"),
    (b"a STORE 1 (\"x\") FLAGS ()", "a", "expected a STORE modifier"),
    (b"a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS ()", "a",
     "duplicate STORE modifier UNCHANGEDSINCE"),
    (b"a SETQUOTA x (\"STORAGE\" 5)", "a", "expected a resource name"),
    (b"a SETQUOTA x (STORAGE)", "a", "expected a space"),
    (b"a COPY 1", "a", "missing argument"),
    (b"a COPY 1 ", "a", "missing argument"),
    (b"a UID EXPUNGE", "a", "missing argument"),
    (b"a EXPUNGE 1:3", "a", "unexpected data at end of command"),
]


@pytest.mark.parametrize(("line", "tag", "message"), ERRORS,
                         ids=[repr(line)[:60] for line, _, _ in ERRORS])
def test_errors(line, tag, message):
    if message is None:
        assert parse(line).tag == tag
        return
    error = refused(line)
    assert type(error) is ParseError
    assert (error.tag, error.message, error.code) == (tag, message, None)
    assert error.text == message and str(error) == message


def test_bad_charset_is_its_own_error():
    error = refused("a SEARCH CHARSET KOI8-R TEXT x")
    assert isinstance(error, BadCharset) and isinstance(error, ParseError)
    assert (error.tag, error.message) == ("a", "unsupported charset KOI8-R")
    assert error.code == "BADCHARSET (UTF-8 US-ASCII)"
    assert error.text == "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset KOI8-R"
    assert refused(b"a SEARCH CHARSET {4}\r\nx\r\ny TEXT x").message == "unsupported charset ?"


def test_limits():
    assert parser.MAX_DEPTH == 64 and parser.MAX_ITEMS == 10_000
    nested = "a SEARCH " + "(" * 64 + "ALL" + ")" * 64
    assert parse(nested).args.criteria.name == "ALL"
    assert refused("a SEARCH " + "(" * 65 + "ALL" + ")" * 65).message == "nesting too deep"
    assert refused("a SEARCH " + "NOT " * 65 + "ALL").message == "nesting too deep"
    assert refused("a SEARCH " + "OR ALL " * 65 + "ALL").message == "nesting too deep"
    started = time.perf_counter()
    assert refused(b"a SEARCH " + b"(" * 1_000_000).message == "nesting too deep"
    assert refused(b"a SEARCH " + b"NOT " * 1_000_000).message == "nesting too deep"
    assert refused("a SEARCH" + " ALL" * 10_001).message == "too many items"
    assert refused("a FETCH 1 (" + " ".join(["UID"] * 10_001) + ")").message == "too many items"
    assert refused("a STORE 1 FLAGS" + " \\Seen" * 10_001).message == "too many items"
    assert refused("a ENABLE" + " X" * 10_001).message == "too many items"
    assert refused(b'a LOGIN "' + b"x" * 1_000_000).message == "invalid quoted string"
    assert refused(b'a LOGIN "' + b'\\"' * 500_000).message == "invalid quoted string"
    assert time.perf_counter() - started < 5


# Messages built at run time: their fixed part is what the sources show.
_SOURCE_MESSAGE = re.compile(
    r'(?:error|fail|ParseError|BadCharset)\((?:[^()"]*, )?f?"([^"]+)"'
    r'|(?:keyword|atom)\(\s*"([^"]+)"')


def test_every_error_message_is_tested():
    """Each message the parser modules can raise appears in the tests of this directory."""
    sources = "".join(path.read_text() for path in IMAP_SOURCES.glob("parser*.py"))
    messages = {(plain or keyword).split("{")[0].strip()
                for plain, keyword in _SOURCE_MESSAGE.findall(sources)}
    tested = "".join(path.read_text() for path in Path(__file__).parent.glob("test_parser*.py"))
    assert len(messages) > 60
    untested = sorted(message for message in messages if f'"{message}' not in tested)
    assert untested == []


# --- fuzzing ----------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TOKENS = [b" ", b"(", b")", b"[", b"]", b"<", b">", b".", b"\"", b"\\", b"{", b"}", b"~", b"+",
          b"*", b"%", b"$", b":", b",", b"\r\n", b"\x00", b"\xc3\xa9", b"\xff", b"0", b"1",
          b"4294967296", b"9" * 25, b"NIL", b"UID", b"FETCH", b"SEARCH", b"BODY", b"BODY.PEEK",
          b"BINARY", b"HEADER.FIELDS", b"MIME", b"NOT", b"OR", b"CHARSET", b"RETURN", b"{3}\r\n",
          b"{3+}\r\n", b"~{3}\r\n", b"{999}\r\n", b"&", b"&AOk-", b"QRESYNC", b"CHANGEDSINCE",
          b"VANISHED", b"MODSEQ", b"STATUS", b"USE", b"\\Seen", b"FLAGS", b"1-Feb-1994"]
NAMES = sorted(parser.COMMANDS) + ["UID " + name for name in sorted(parser.UID_COMMANDS)]


def _parses_or_refuses(data: bytes, **options) -> None:
    try:
        command = parse_command(data, **options)
    except ParseError as error:
        assert error.message and "\r" not in error.text and "\n" not in error.text
        assert error.tag is None or data.startswith(error.tag.encode())
    else:
        assert isinstance(command, Command) and command.name in parser.COMMANDS


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    _parses_or_refuses(data)


@FUZZ
@given(st.sampled_from(NAMES), st.lists(st.sampled_from(TOKENS), max_size=30), st.booleans())
def test_fuzz_token_soup(name, tokens, utf8):
    _parses_or_refuses(b"t " + name.encode() + b" " + b"".join(tokens), utf8=utf8)


@FUZZ
@given(st.sampled_from([_wire(line) for _, line in CORPUS]), st.data())
def test_fuzz_mutated_real_commands(line, data):
    mutated = bytearray(line)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(mutated)))
        action = data.draw(st.sampled_from(["delete", "insert", "replace", "truncate", "dup"]))
        if action == "delete":
            del mutated[at:at + data.draw(st.integers(1, 8))]
        elif action == "insert":
            mutated[at:at] = data.draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=4))
        elif action == "replace" and at < len(mutated):
            mutated[at] = data.draw(st.integers(0, 255))
        elif action == "truncate":
            del mutated[at:]
        else:
            mutated[at:at] = mutated[at:at + data.draw(st.integers(1, 20))]
    _parses_or_refuses(bytes(mutated), utf8=data.draw(st.booleans()))
